// What the two storage providers (a directory, an S3 bucket) share about their resources and objects:
// the options they both take, the largest object either accepts, how often a delete lists again, and the
// credentials of a storage resource, which are only where its objects are reached through Bulkhead.
import { type Credentials, type DataKeySource, ProviderError, type ResourceRef } from '../provider.js';

export interface SealedObjectOptions {
  /** Where each domain's 32-byte data key comes from. */
  readonly dataKeys: DataKeySource;
  /** The largest object accepted, in bytes, whatever a caller asks for. Default 100 MiB. */
  readonly maxObjectBytes?: number | undefined;
}

const DEFAULT_MAX_OBJECT_BYTES = 100 * 1024 * 1024;

// A resource that keeps filling while it is removed is being written by a caller that does not know it
// is being deleted; give up after a few rounds and let the reconciler try again.
export const DELETE_ROUNDS = 5;

/** The options' largest object, after checking them; a bad value stops the provider's creation. */
export function maxObjectBytesOf(options: SealedObjectOptions): number {
  if (typeof options.dataKeys?.dataKey !== 'function') throw new TypeError('storage needs a DataKeySource');
  const maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  if (!Number.isSafeInteger(maxObjectBytes) || maxObjectBytes < 1) {
    throw new RangeError('maxObjectBytes must be a positive integer');
  }
  return maxObjectBytes;
}

/**
 * How many plaintext bytes a put may write: the caller's allowance, never past the provider's largest
 * object. A negative allowance (a domain already over its quota) still admits an empty object.
 */
export function objectLimit(maxBytes: number, maxObjectBytes: number): number {
  if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes)) {
    throw new TypeError('maxBytes must be a number');
  }
  return Math.max(0, Math.floor(Math.min(maxBytes, maxObjectBytes)));
}

export function credentialsFor(ref: ResourceRef): Credentials {
  // Not a secret: objects are reached only through Bulkhead, with a key of the domain.
  return { kind: 'storage', objectsPath: `/v1/domains/${ref.domainId}/resources/${ref.resourceId}/objects/` };
}

/** A resource's credentials, or `not_found` when the resource is not there. */
export async function existingCredentials(
  provider: { exists(ref: ResourceRef): Promise<boolean> },
  ref: ResourceRef,
): Promise<Credentials> {
  if (!(await provider.exists(ref))) throw new ProviderError('storage', 'not_found');
  return credentialsFor(ref);
}
