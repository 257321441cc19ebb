// The one contract every backend implements. The core (provisioner, HTTP, CLI) talks to backends only
// through this interface; nothing outside src/providers/<name>/ imports a backend's client library.
// Every method is idempotent: calling it again after a crash converges on the same single resource,
// because backend names are derived from the domain and resource ids, never chosen by a caller.
import type { Readable } from 'node:stream';
import type { ResourceKind } from '../domain/kinds.js';

/**
 * The reasons a provider fails, per provider: each backend has its own closed list, and the core reads
 * only `provider` and `code`, never a message. A probe's refusals are reported in its ProbeReport, never
 * thrown; these are the failures around it.
 */
export interface ProviderErrorCodes {
  postgres: 'invalid_options' | 'not_found' | 'probe_setup' | 'unsafe_server';
  redis: 'invalid_options' | 'not_found' | 'probe_setup' | 'unsafe_server';
  rabbitmq: 'invalid_options' | 'not_found' | 'management' | 'probe_setup';
  /** invalid_object_key → 400, object_too_large → 413, not_found → 404; `corrupt` is a plain 500. */
  storage: 'invalid_object_key' | 'object_too_large' | 'not_found' | 'corrupt';
  kubernetes: 'invalid_options' | 'not_found' | 'api_failed';
}

export type ProviderErrorCode<K extends ResourceKind = ResourceKind> = ProviderErrorCodes[K];

const defaultMessage: { readonly [K in ResourceKind]: Readonly<Record<ProviderErrorCode<K>, string>> } = {
  postgres: {
    invalid_options: 'The PostgreSQL provider options are not valid.',
    not_found: 'The PostgreSQL resource does not exist.',
    probe_setup: 'The isolation probe could not be set up.',
    unsafe_server: 'The PostgreSQL server would let tenants log in as one another.',
  },
  redis: {
    invalid_options: 'The Redis provider options are not valid.',
    not_found: 'The Redis resource does not exist.',
    probe_setup: 'The isolation probe could not be set up.',
    unsafe_server: 'The Redis server would let tenants step outside their ACL user.',
  },
  rabbitmq: {
    invalid_options: 'The RabbitMQ provider options are not valid.',
    not_found: 'The RabbitMQ resource does not exist.',
    management: 'The RabbitMQ management API gave an unexpected answer.',
    probe_setup: 'The isolation probe could not be set up.',
  },
  storage: {
    invalid_object_key: 'The object key must be 1 to 1024 bytes of UTF-8 without control characters.',
    object_too_large: 'The object is larger than allowed.',
    not_found: 'The storage resource does not exist.',
    corrupt: 'The stored object failed authentication.',
  },
  kubernetes: {
    invalid_options: 'The Kubernetes provider options are not valid.',
    not_found: 'The Kubernetes resource does not exist.',
    api_failed: 'The Kubernetes API server refused or failed a request.',
  },
};

/**
 * A provider failure: which provider, and a stable code from its list. Messages name backend objects
 * (roles, vhosts, namespaces) but never a secret, an object key or an admin URL, so they may be shown to
 * the tenant that asked; `hint` says what the operator can do (for `unsafe_server`: the setting to change).
 *
 * @example
 * try { await provider.credentials(ref); }
 * catch (e) { if (isProviderError(e, 'not_found')) recreate(); else throw e; }
 */
export class ProviderError<K extends ResourceKind = ResourceKind> extends Error {
  override readonly name = 'ProviderError';
  readonly provider: K;
  readonly code: ProviderErrorCode<K>;
  readonly hint: string | undefined;

  constructor(
    provider: K,
    code: ProviderErrorCode<K>,
    message?: string,
    options?: { cause?: unknown; hint?: string | undefined },
  ) {
    super(
      message ?? (defaultMessage[provider] as Readonly<Record<string, string>>)[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.provider = provider;
    this.code = code;
    this.hint = options?.hint;
  }
}

/** True for a ProviderError, and when `code` is given, only for that code. */
export function isProviderError(error: unknown, code?: ProviderErrorCode): error is ProviderError {
  return error instanceof ProviderError && (code === undefined || error.code === code);
}

/** Identifies one resource of one domain. Both ids are Bulkhead ids (`dom_…`, `res_…`). */
export interface ResourceRef {
  readonly domainId: string;
  readonly resourceId: string;
}

/**
 * What a tenant needs to use its resource. Values are strings or numbers only; the store encrypts the
 * whole object under the domain's data key, and it is only ever returned to that domain.
 */
export type Credentials = Readonly<Record<string, string | number>>;

export interface InspectResult {
  /** True when the backend holds the resource's objects (role, database, directory …). */
  readonly exists: boolean;
  /** Backend facts worth showing an operator (names, sizes); never secrets. */
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

/** One attempt of a probe: what A tried against B and whether the backend refused it. */
export interface ProbeAttempt {
  readonly attempt: string;
  readonly refused: boolean;
  readonly detail: string;
}

export interface ProbeReport {
  /** True only when every attempt was refused. */
  readonly refused: boolean;
  readonly attempts: readonly ProbeAttempt[];
}

export interface ProbeSide {
  readonly ref: ResourceRef;
  readonly credentials: Credentials;
}

/** A backend object the provider finds in its own listing, for orphan checks after a crash. */
export interface OwnedObject {
  readonly ref: ResourceRef;
  /** The backend's own name for it (role, database, directory). */
  readonly name: string;
}

/** Streaming object access, for providers that store objects (capability `objects`). */
export interface ObjectStore {
  /** Writes an object from a stream; refuses (and stores nothing) past `maxBytes`. Returns its size. */
  putObject(ref: ResourceRef, key: string, body: Readable, maxBytes: number): Promise<{ size: number }>;
  /** Opens an object for reading, or null when there is none. */
  getObject(ref: ResourceRef, key: string): Promise<{ size: number; body: Readable } | null>;
  /** Overwrites, then removes an object and its key. False when there was none. */
  deleteObject(ref: ResourceRef, key: string): Promise<boolean>;
  /** Bytes used by all objects of a resource (for quotas). */
  usedBytes(ref: ResourceRef): Promise<number>;
}

export interface ProviderCapabilities {
  /** The provider implements ObjectStore. */
  readonly objects: boolean;
}

/**
 * The one backend a provider allocates on. A resource records it when it is created, so a server started
 * later with another configuration can tell that the resource lives elsewhere and leave it alone.
 */
export interface BackendIdentity {
  /**
   * What kind of backend: `postgres-server`, `postgres-embedded`, `redis`, `rabbitmq`, `storage`,
   * `kubernetes` or `kubernetes-dry-run`.
   */
  readonly type: string;
  /**
   * Where it is, as configured: a server's host:port (PostgreSQL adds its mode), a directory for
   * embedded ones. Two providers with the same type and location reach the same objects. Never a secret.
   */
  readonly location: string;
}

export function sameBackend(a: BackendIdentity, b: BackendIdentity): boolean {
  return a.type === b.type && a.location === b.location;
}

/** A backend as a person reads it: `postgres-server 127.0.0.1:5432 (database mode)`. */
export function describeBackend(backend: BackendIdentity): string {
  return `${backend.type} ${backend.location}`;
}

/** `host:port`, with brackets around an IPv6 address. */
export function hostPort(host: string, port: number | string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface Provider {
  readonly kind: ResourceKind;
  readonly capabilities: ProviderCapabilities;
  /** Where this provider's resources live. */
  readonly backend: BackendIdentity;
  /** Creates the resource, or finishes creating it; returns fresh credentials for it. */
  create(ref: ResourceRef): Promise<Credentials>;
  inspect(ref: ResourceRef): Promise<InspectResult>;
  /** Removes the resource and its data for good (ends sessions, overwrites data); a missing one is fine. */
  delete(ref: ResourceRef): Promise<void>;
  /** Issues new credentials for an existing resource; the old ones stop working. */
  credentials(ref: ResourceRef): Promise<Credentials>;
  /** Uses A's credentials to try B's resource; every attempt must be refused. */
  probeIsolation(a: ProbeSide, b: ProbeSide): Promise<ProbeReport>;
  /** Everything this provider finds in its backend that carries Bulkhead's naming. */
  listOwned(): Promise<OwnedObject[]>;
  close(): Promise<void>;
}

export type ObjectProvider = Provider & ObjectStore;

export function hasObjects(provider: Provider): provider is ObjectProvider {
  return provider.capabilities.objects;
}

/**
 * The part of a Bulkhead id after its prefix: 26 lowercase base32 characters. Providers build backend
 * names from these, e.g. `bh_<domain>_<resource>` (56 characters, inside PostgreSQL's 63).
 */
export function idBody(id: string): string {
  const body = id.slice(id.indexOf('_') + 1);
  if (!/^[0-9a-z]{26}$/.test(body)) throw new Error(`not a Bulkhead id: ${id}`);
  return body;
}

/** The name every backend object of a resource starts from. */
export function backendName(ref: ResourceRef): string {
  return `bh_${idBody(ref.domainId)}_${idBody(ref.resourceId)}`;
}

/** Reverses backendName, for providers listing their own objects; null for names that are not ours. */
export function refFromBackendName(name: string): ResourceRef | null {
  const m = /^bh_([0-9a-z]{26})_([0-9a-z]{26})$/.exec(name);
  return m === null ? null : { domainId: `dom_${m[1]!}`, resourceId: `res_${m[2]!}` };
}

/**
 * Hands a provider the 32-byte data key of a domain (kept wrapped by the master key in the store). A
 * domain's key is destroyed when the domain is deleted, which makes anything still encrypted under it
 * unreadable.
 */
export interface DataKeySource {
  dataKey(domainId: string): Promise<Buffer>;
}
