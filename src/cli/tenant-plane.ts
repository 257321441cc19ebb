// What a domain's provisioning key lets the CLI do, through the services on the store or through a
// running server. Either way the domain comes from the key, never from an argument.
import type { Config } from '../config.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import { kindCheck, kindsAllowed } from '../policy/scopes.js';
import type { Credentials } from '../providers/provider.js';
import type { ResourceView } from '../provisioner/provisioner.js';
import type { Services } from '../runtime.js';
import { apiClient } from './api-client.js';

export interface TenantPlane {
  readonly domainId: string;
  createResource(input: { kind: ResourceKind; name: string }, idempotencyKey?: string): Promise<ResourceView>;
  listResources(includeDeleted: boolean): Promise<ResourceView[]>;
  getResource(resourceId: string): Promise<ResourceView>;
  credentials(resourceId: string): Promise<Credentials>;
  rotateCredentials(resourceId: string): Promise<Credentials>;
  deleteResource(resourceId: string): Promise<ResourceView>;
  close(): Promise<void>;
}

export async function directTenantPlane(services: Services, key: string): Promise<TenantPlane> {
  const principal = await services.keys.authenticate(key, null);
  const actor = { actor: principal.actor, requestId: null };
  const d = principal.domainId;
  return {
    domainId: d,
    // The key's scopes hold here as they do over HTTP.
    createResource: async (input, idem) => {
      kindCheck(principal, 'create')(input.kind);
      return (await services.provisioner.create(principal, null, d, input, idem)).resource;
    },
    listResources: (includeDeleted) =>
      services.provisioner.list(d, { includeDeleted, kinds: kindsAllowed(principal, 'read') ?? [] }),
    getResource: (id) => services.provisioner.get(d, id, kindCheck(principal, 'read')),
    credentials: (id) => services.provisioner.credentials(actor, d, id, kindCheck(principal, 'credentials')),
    rotateCredentials: (id) =>
      services.provisioner.rotateCredentials(actor, d, id, kindCheck(principal, 'rotate')),
    deleteResource: (id) => services.provisioner.delete(actor, d, id, kindCheck(principal, 'delete')),
    close: () => services.close(),
  };
}

export async function httpTenantPlane(config: Config & { url: string }, key: string): Promise<TenantPlane> {
  const api = apiClient(config.url, key);
  const call = <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    api<T>(method, path, { body, headers });
  const who = await call<{ domainId: string | null }>('GET', '/v1/whoami');
  if (who.domainId === null)
    throw new BulkheadError('key_required', 'BULKHEAD_KEY must be a provisioning key.');
  const r = `/v1/domains/${who.domainId}/resources`;
  return {
    domainId: who.domainId,
    createResource: (input, idem) =>
      call('POST', r, input, idem === undefined ? {} : { 'idempotency-key': idem }),
    listResources: async (all) =>
      (await call<{ items: ResourceView[] }>('GET', `${r}?includeDeleted=${all}`)).items,
    getResource: (id) => call('GET', `${r}/${encodeURIComponent(id)}`),
    credentials: (id) => call('GET', `${r}/${encodeURIComponent(id)}/credentials`),
    rotateCredentials: (id) => call('POST', `${r}/${encodeURIComponent(id)}/credentials/rotate`),
    deleteResource: (id) => call('DELETE', `${r}/${encodeURIComponent(id)}`),
    close: () => Promise.resolve(),
  };
}
