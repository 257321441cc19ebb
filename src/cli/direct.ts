import { userInfo } from 'node:os';
import { listAudit, verifyAudit } from '../audit/log.js';
import { BulkheadError, notFound } from '../errors.js';
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
    getPrices: () => services.billing.prices(),
    setPrices: (input) => services.billing.setPrices(actor, input),
    getPortal: (id) => services.portal.get(id),
    setPortal: (id, input) => services.portal.set(actor, id, input),
    setPortalLogo: (id, bytes) => services.portal.setLogo(actor, id, bytes),
    getBillingDetails: (id) => services.billing.details(id),
    setBillingDetails: async (id, input) => {
      await services.domains.get(id);
      return services.billing.setDetails(actor, id, input);
    },
    closePeriod: (period, domainId) =>
      domainId === undefined
        ? services.billing.closePeriod(actor, period)
        : services.billing.closeDomainPeriod(actor, domainId, period),
    listUsage: (id, filter) => services.billing.usage(id, filter),
    listInvoices: (id, filter) =>
      services.billing.invoices(id, { limit: filter.limit, beforeNumber: filter.before }),
    getInvoice: (id, invoiceId) => services.billing.invoice(id, invoiceId),
    invoicePdf: (id, invoiceId) => services.billing.invoicePdf(id, invoiceId),
    setInvoiceStatus: (id, invoiceId, status, reference) =>
      services.billing.setStatus(actor, id, invoiceId, status, reference ?? null),
    listDomains: (options) => services.domains.list(options),
    getDomain: (id) => services.domains.get(id),
    suspendDomain: (id, reason) => services.domains.suspend(actor, id, reason),
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
    createPrincipal: (id, input) => services.principals.create(actor, id, input),
    listPrincipals: async (id) => {
      await services.domains.get(id);
      return services.principals.list(id);
    },
    disablePrincipal: (id, principalId) => services.principals.setStatus(actor, id, principalId, 'disabled'),
    setPrincipalRole: (id, principalId, role) => services.principals.setRole(actor, id, principalId, role),
    deletePrincipal: (id, principalId) => services.principals.setStatus(actor, id, principalId, 'deleted'),
    revokeSession: async (id, sessionId) => {
      if (!(await services.tokens.revokeSession(actor, sessionId, 'revoked by the operator', id)))
        throw notFound();
    },
    createGrant: (input) => services.grants.create(actor, input),
    listGrants: (filter) => services.grants.list(filter),
    revokeGrant: (grantId) => services.grants.revoke(actor, grantId),
    getPool: async (id) => {
      await services.domains.get(id);
      return {
        quotas: await services.provisioner.quotas(id),
        limits: await services.tenantLimits.limitsOf(id),
      };
    },
    // The server applies a change to its rate limiter at once; only it can, so the change goes through it.
    setPool: () =>
      Promise.reject(
        new BulkheadError(
          'invalid_request',
          'pool set goes through a running server: set BULKHEAD_URL (or --url) and BULKHEAD_OPERATOR_TOKEN.',
        ),
      ),
    getBlueprint: (id, blueprintId) => services.blueprints.get(id, blueprintId),
    listSigningKeys: async (id) => {
      await services.domains.get(id);
      await services.signingKeys.ensure(id);
      return services.signingKeys.list(id);
    },
    rotateSigningKey: (id) => services.signingKeys.rotate(actor, id),
    createOAuthClient: (id, input) => services.oauthClients.create(actor, id, input),
    listOAuthClients: (id) => services.oauthClients.list(id),
    deleteOAuthClient: (id, clientId) => services.oauthClients.delete(actor, id, clientId),
    close: () => services.close(),
  };
}
