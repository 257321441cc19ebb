// What a domain's provisioning key lets the CLI do, through the services on the store or through a
// running server. Either way the domain comes from the key, never from an argument: over HTTP the paths
// name `me`, which the server fills in from the key, so a command is one request (and one use of the key).
import type { Config } from '../config.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import { kindCheck, kindsAllowed } from '../policy/scopes.js';
import type { Credentials } from '../providers/provider.js';
import type { BlueprintView } from '../provisioner/blueprints.js';
import type { ResourceView } from '../provisioner/provisioner.js';
import type { Quotas } from '../domain/quotas.js';
import type { Services } from '../runtime.js';
import type { InstanceView, VolumeView } from '../services/compute.js';
import type { TenantLimitValues } from '../services/tenant-limits.js';
import { apiClient } from './api-client.js';

export interface PoolView {
  readonly quotas: Quotas;
  readonly limits: TenantLimitValues;
}

export interface BlueprintInput {
  readonly name: string;
  readonly resources: readonly { kind: ResourceKind; name: string }[];
}

export interface TenantPlane {
  /** The key's domain. */
  domainId(): Promise<string>;
  createResource(input: { kind: ResourceKind; name: string }, idempotencyKey?: string): Promise<ResourceView>;
  listResources(includeDeleted: boolean): Promise<ResourceView[]>;
  getResource(resourceId: string): Promise<ResourceView>;
  credentials(resourceId: string): Promise<Credentials>;
  rotateCredentials(resourceId: string): Promise<Credentials>;
  deleteResource(resourceId: string): Promise<ResourceView>;
  createInstance(input: { name: string }): Promise<InstanceView>;
  listInstances(): Promise<InstanceView[]>;
  getInstance(instanceId: string): Promise<InstanceView>;
  deleteInstance(instanceId: string): Promise<InstanceView>;
  createVolume(input: { name: string; sizeBytes: number }): Promise<VolumeView>;
  listVolumes(): Promise<VolumeView[]>;
  getVolume(volumeId: string): Promise<VolumeView>;
  attachVolume(volumeId: string, instanceId: string): Promise<VolumeView>;
  detachVolume(volumeId: string): Promise<VolumeView>;
  deleteVolume(volumeId: string): Promise<VolumeView>;
  /** Stores the bytes of `body` under `key` in a storage resource. */
  putObject(
    resourceId: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
  ): Promise<{ key: string; size: number }>;
  getObject(resourceId: string, key: string): Promise<{ size: number; body: AsyncIterable<Uint8Array> }>;
  deleteObject(resourceId: string, key: string): Promise<void>;
  createBlueprint(input: BlueprintInput): Promise<BlueprintView>;
  getBlueprint(blueprintId: string): Promise<BlueprintView>;
  pool(): Promise<PoolView>;
  close(): Promise<void>;
}

/** Object data goes through a running server, which streams it into the provider and keeps the quota. */
const objectsNeedServer = () =>
  Promise.reject(
    new BulkheadError(
      'invalid_request',
      'Objects go through a running server: set BULKHEAD_URL (or --url) to it, with BULKHEAD_KEY.',
    ),
  );

export async function directTenantPlane(services: Services, key: string): Promise<TenantPlane> {
  const principal = await services.keys.authenticate(key, null);
  const actor = { actor: principal.actor, requestId: null };
  const d = principal.domainId;
  const c = services.compute;
  return {
    domainId: () => Promise.resolve(d),
    // The key's scopes hold here as they do over HTTP.
    createResource: async (input, idem) => {
      kindCheck(principal, 'create')(input.kind);
      return (
        await services.provisioner.create({
          principal,
          requestId: null,
          domainId: d,
          ...input,
          idempotencyKey: idem,
        })
      ).resource;
    },
    listResources: (includeDeleted) =>
      services.provisioner.list(d, { includeDeleted, kinds: kindsAllowed(principal, 'read') ?? [] }),
    getResource: (id) => services.provisioner.get(d, id, kindCheck(principal, 'read')),
    credentials: (id) => services.provisioner.credentials(actor, d, id, kindCheck(principal, 'credentials')),
    rotateCredentials: (id) =>
      services.provisioner.rotateCredentials(actor, d, id, kindCheck(principal, 'rotate')),
    deleteResource: (id) => services.provisioner.delete(actor, d, id, kindCheck(principal, 'delete')),
    createInstance: (input) => c.createInstance(actor, d, input),
    listInstances: () => c.listInstances(d),
    getInstance: (id) => c.getInstance(d, id),
    deleteInstance: (id) => c.deleteInstance(actor, d, id),
    createVolume: (input) => c.createVolume(actor, d, input),
    listVolumes: () => c.listVolumes(d),
    getVolume: (id) => c.getVolume(d, id),
    attachVolume: (id, instanceId) => c.attach(actor, d, id, instanceId),
    detachVolume: (id) => c.detach(actor, d, id),
    deleteVolume: (id) => c.deleteVolume(actor, d, id),
    putObject: objectsNeedServer,
    getObject: objectsNeedServer,
    deleteObject: objectsNeedServer,
    createBlueprint: (input) => services.blueprints.create(principal, null, d, input),
    getBlueprint: (id) => services.blueprints.get(d, id, kindCheck(principal, 'read')),
    pool: async () => {
      await services.domains.get(d);
      return {
        quotas: await services.provisioner.quotas(d),
        limits: await services.tenantLimits.limitsOf(d),
      };
    },
    close: () => services.close(),
  };
}

/** An object key in a path: each `/`-separated part encoded, the slashes kept. */
export function objectPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function httpTenantPlane(config: Config & { url: string }, key: string): TenantPlane {
  const api = apiClient(config.url, key);
  let domain: Promise<string> | undefined;
  const domainId = () =>
    (domain ??= api<{ domainId: string | null }>('GET', '/v1/whoami').then((who) => {
      if (who.domainId === null)
        throw new BulkheadError('key_required', 'BULKHEAD_KEY must be a provisioning key.');
      return who.domainId;
    }));
  /** A call under the key's domain: `path` is relative to /v1/domains/<domainId>. */
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => api<T>(method, `/v1/domains/me${path}`, { body, headers });
  const id = encodeURIComponent;
  // Every page of a list, following its `next` cursor (docs/api.md, "Paging").
  const items = async <T>(path: string) => {
    const all: T[] = [];
    let cursor: string | null = null;
    do {
      const url: string =
        cursor === null ? path : `${path}${path.includes('?') ? '&' : '?'}cursor=${id(cursor)}`;
      const page: { items: T[]; next?: string | null } = await call('GET', url);
      all.push(...page.items);
      cursor = page.next ?? null;
    } while (cursor !== null);
    return all;
  };
  const object = (resourceId: string, objectKey: string) =>
    `/v1/domains/me/resources/${id(resourceId)}/objects/${objectPath(objectKey)}`;
  return {
    domainId,
    createResource: (input, idem) =>
      call('POST', '/resources', input, idem === undefined ? {} : { 'idempotency-key': idem }),
    listResources: (all) => items(`/resources?includeDeleted=${all}`),
    getResource: (r) => call('GET', `/resources/${id(r)}`),
    credentials: (r) => call('GET', `/resources/${id(r)}/credentials`),
    rotateCredentials: (r) => call('POST', `/resources/${id(r)}/credentials/rotate`),
    deleteResource: (r) => call('DELETE', `/resources/${id(r)}`),
    createInstance: (input) => call('POST', '/instances', input),
    listInstances: () => items('/instances'),
    getInstance: (i) => call('GET', `/instances/${id(i)}`),
    deleteInstance: (i) => call('DELETE', `/instances/${id(i)}`),
    createVolume: (input) => call('POST', '/volumes', input),
    listVolumes: () => items('/volumes'),
    getVolume: (v) => call('GET', `/volumes/${id(v)}`),
    attachVolume: (v, instanceId) => call('POST', `/volumes/${id(v)}/attach`, { instanceId }),
    detachVolume: (v) => call('POST', `/volumes/${id(v)}/detach`),
    deleteVolume: (v) => call('DELETE', `/volumes/${id(v)}`),
    putObject: async (r, k, body) =>
      (await (await api.raw('PUT', object(r, k), { body })).json()) as { key: string; size: number },
    getObject: async (r, k) => {
      const response = await api.raw('GET', object(r, k));
      const empty = (async function* () {})();
      return {
        size: Number(response.headers.get('content-length') ?? 0),
        body: response.body === null ? empty : (response.body as AsyncIterable<Uint8Array>),
      };
    },
    deleteObject: async (r, k) => {
      await (await api.raw('DELETE', object(r, k))).arrayBuffer();
    },
    createBlueprint: (input) => call('POST', '/blueprints', input),
    getBlueprint: (b) => call('GET', `/blueprints/${id(b)}`),
    pool: () => call('GET', '/pool'),
    close: () => Promise.resolve(),
  };
}
