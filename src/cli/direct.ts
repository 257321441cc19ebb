import { userInfo } from 'node:os';
import { listAudit, verifyAudit } from '../audit/log.js';
import type { Actor } from '../policy/principal.js';
import type { Services } from '../runtime.js';
import { listRuns } from '../verify/runs.js';
import type { ControlPlane } from './control-plane.js';

export function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The control plane through the services themselves; changes are audited as `cli:<os user>`. */
export function directControlPlane(services: Services): ControlPlane {
  const actor: Actor = { actor: `cli:${localUser()}`, requestId: null };
  return {
    createDomain: (input) => services.domains.create(actor, input),
    listDomains: (options) => services.domains.list(options),
    getDomain: (id) => services.domains.get(id),
    suspendDomain: (id) => services.domains.suspend(actor, id),
    resumeDomain: (id) => services.domains.resume(actor, id),
    deleteDomain: (id) => services.domains.delete(actor, id),
    issueKey: (domainId, input) => services.keys.issue(actor, domainId, input),
    listKeys: (domainId) => services.keys.list(domainId),
    revokeKey: (domainId, keyId) => services.keys.revoke(actor, domainId, keyId),
    rotateKey: (domainId, keyId, overlap) => services.keys.rotate(actor, domainId, keyId, overlap),
    listAudit: (filter) => services.store.system('operator', (tx) => listAudit(tx, filter)),
    verifyAudit: () => services.store.system('audit', verifyAudit),
    listVerifyRuns: (options) => services.store.system('verify', (tx) => listRuns(tx, options)),
    setPrincipalPassword: (id, principalId, password) =>
      services.principals.setPassword(actor, id, principalId, password),
    listSigningKeys: async (id) => {
      await services.domains.get(id);
      await services.signingKeys.ensure(id);
      return services.signingKeys.list(id);
    },
    rotateSigningKey: (id) => services.signingKeys.rotate(actor, id),
    close: () => services.close(),
  };
}
