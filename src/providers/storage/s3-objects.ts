// The storage provider on an S3-compatible object store, for several servers that must all reach the
// same objects. The bytes are the local provider's format (storage-crypto.ts): every object is sealed
// under its own key, wrapped by a key derived from its domain's data key, with the resource and name
// bound in, so the store only ever holds ciphertext and destroying the domain's key shreds the domain.
// Layout: <prefix><domainId>/<backendName>/resource (an empty marker) and .../objects/<64 hex digits>,
// so each domain has its own prefix and an operator can give a domain's prefix its own bucket policy.
// An object is sealed whole in memory and written with one PUT (objects are bounded by maxObjectBytes);
// S3 makes a PUT atomic, so readers see the old object or the new one.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import {
  backendName,
  type BackendIdentity,
  type Credentials,
  type DataKeySource,
  type InspectResult,
  type ObjectProvider,
  type OwnedObject,
  type ProbeReport,
  type ProbeSide,
  ProviderError,
  refFromBackendName,
  type ResourceRef,
} from '../provider.js';
import {
  CHUNK_SIZE,
  chunkPlainLength,
  deriveStorageKeys,
  HEADER_BYTES,
  ObjectSealer,
  objectFileName,
  openChunk,
  openHeader,
  peekSize,
  TAG_BYTES,
  type ObjectContext,
} from './storage-crypto.js';
import { objectKeyBytes } from './storage-layout.js';
import {
  credentialsFor,
  DELETE_ROUNDS,
  existingCredentials,
  maxObjectBytesOf,
  objectLimit,
  type SealedObjectOptions,
} from './storage-objects.js';
import { probeS3Isolation } from './s3-probe.js';

export interface S3Location {
  /** The S3 endpoint (`https://s3.example.net`, `http://127.0.0.1:4569`); AWS's own when absent. */
  readonly endpoint?: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Prepended to every key: several installations can share a bucket. Empty, or ends with `/`. */
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need. */
  readonly forcePathStyle?: boolean | undefined;
}

export interface S3StorageProviderOptions extends SealedObjectOptions {
  readonly s3: S3Location;
}

const MARKER = 'resource';

function s3Status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

export function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return s3Status(error) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

function asBuffer(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  if (typeof piece === 'string') return Buffer.from(piece, 'utf8');
  throw new TypeError('an object body must be a stream of bytes');
}

/** Reads a body up to `limit` plaintext bytes, refusing past it (leaving the loop destroys the body). */
async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of body as AsyncIterable<unknown>) {
    const bytes = asBuffer(piece);
    size += bytes.length;
    if (size > limit) throw new ProviderError('storage', 'object_too_large');
    parts.push(bytes);
  }
  return Buffer.concat(parts, size);
}

/** The whole sealed object: header, then every chunk with its tag. */
export function sealWhole(plaintext: Buffer, wrapKey: Buffer, context: ObjectContext): Buffer {
  const sealer = new ObjectSealer(CHUNK_SIZE);
  try {
    const chunks: Buffer[] = [];
    let offset = 0;
    do {
      const end = Math.min(offset + sealer.chunkSize, plaintext.length);
      chunks.push(sealer.sealChunk(plaintext.subarray(offset, end), end === plaintext.length));
      offset = end;
    } while (offset < plaintext.length);
    return Buffer.concat([sealer.header(plaintext.length, wrapKey, context), ...chunks]);
  } finally {
    sealer.dispose();
  }
}

/** Authenticates and decrypts a whole sealed object; throws `corrupt` when anything does not check. */
export function openWhole(sealed: Buffer, wrapKey: Buffer, context: ObjectContext): Buffer[] {
  const object = openHeader(sealed.subarray(0, HEADER_BYTES), sealed.length, wrapKey, context);
  try {
    const parts: Buffer[] = [];
    let position = HEADER_BYTES;
    for (let index = 0; index < object.chunks; index++) {
      const length = chunkPlainLength(object, index) + TAG_BYTES;
      parts.push(openChunk(object, index, sealed.subarray(position, position + length)));
      position += length;
    }
    return parts;
  } finally {
    object.objectKey.fill(0);
  }
}

export class S3StorageProvider implements ObjectProvider {
  readonly kind = 'storage' as const;
  readonly capabilities = { objects: true } as const;
  readonly backend: BackendIdentity;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    private readonly dataKeys: DataKeySource,
    private readonly maxObjectBytes: number,
    endpoint: string,
  ) {
    this.backend = { type: 'storage-s3', location: `${endpoint}/${bucket}/${prefix}` };
  }

  /** The key prefix of a resource's objects: its domain's prefix, then the resource. */
  resourcePrefix(ref: ResourceRef): string {
    return `${this.prefix}${ref.domainId}/${backendName(ref)}/`;
  }

  /** The S3 key of an object and the context its wrapped key is bound to. */
  async locate(
    ref: ResourceRef,
    key: string,
  ): Promise<{ s3Key: string; context: ObjectContext; wrapKey: Buffer }> {
    const keyBytes = objectKeyBytes(key);
    const { wrapKey, nameKey } = deriveStorageKeys(await this.dataKeys.dataKey(ref.domainId));
    const fileName = objectFileName(nameKey, keyBytes);
    return {
      s3Key: `${this.resourcePrefix(ref)}objects/${fileName}`,
      context: { resourceName: backendName(ref), fileName },
      wrapKey,
    };
  }

  /** Every key under `prefix`, page after page. */
  async keys(prefix: string): Promise<{ key: string; size: number }[]> {
    const found: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key !== undefined) found.push({ key: item.Key, size: item.Size ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found;
  }

  async getBytes(s3Key: string): Promise<Buffer | null> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: s3Key }));
      if (answer.Body === undefined) return Buffer.alloc(0);
      return Buffer.from(await answer.Body.transformToByteArray());
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async putBytes(s3Key: string, body: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: s3Key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /** Deletes one key; S3 answers success for a key already gone, and so does this. */
  async deleteKey(s3Key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: s3Key }));
  }

  async exists(ref: ResourceRef): Promise<boolean> {
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: `${this.resourcePrefix(ref)}${MARKER}` }),
      );
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async create(ref: ResourceRef): Promise<Credentials> {
    await this.putBytes(`${this.resourcePrefix(ref)}${MARKER}`, Buffer.alloc(0));
    return credentialsFor(ref);
  }

  async inspect(ref: ResourceRef): Promise<InspectResult> {
    const name = backendName(ref);
    if (!(await this.exists(ref))) return { exists: false, details: { name } };
    const objects = (await this.keys(`${this.resourcePrefix(ref)}objects/`)).length;
    return { exists: true, details: { name, objects, usedBytes: await this.usedBytes(ref) } };
  }

  /**
   * Removes the marker first, so new writes are refused, then every object under the resource's
   * prefix, listing again until nothing is left. Idempotent: a resource already gone is done.
   */
  async delete(ref: ResourceRef): Promise<void> {
    const prefix = this.resourcePrefix(ref);
    await this.deleteKey(`${prefix}${MARKER}`);
    for (let round = 0; round < DELETE_ROUNDS; round++) {
      const left = await this.keys(prefix);
      if (left.length === 0) return;
      for (const { key } of left) await this.deleteKey(key);
    }
    if ((await this.keys(prefix)).length > 0) {
      throw new Error(`storage resource ${backendName(ref)} kept receiving objects while it was deleted`);
    }
  }

  credentials(ref: ResourceRef): Promise<Credentials> {
    return existingCredentials(this, ref);
  }

  probeIsolation(a: ProbeSide, b: ProbeSide): Promise<ProbeReport> {
    return probeS3Isolation(this, a, b);
  }

  /** Every resource with a marker or an object under the prefix (a delete cut short leaves objects). */
  async listOwned(): Promise<OwnedObject[]> {
    const names = new Set<string>();
    for (const { key } of await this.keys(this.prefix)) {
      const name = key.slice(this.prefix.length).split('/')[1];
      if (name !== undefined) names.add(name);
    }
    const owned: OwnedObject[] = [];
    for (const name of names) {
      const ref = refFromBackendName(name);
      if (ref !== null) owned.push({ ref, name });
    }
    return owned;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  async putObject(
    ref: ResourceRef,
    key: string,
    body: Readable,
    maxBytes: number,
  ): Promise<{ size: number }> {
    const limit = objectLimit(maxBytes, this.maxObjectBytes);
    const { s3Key, context, wrapKey } = await this.locate(ref, key);
    const plaintext = await readLimited(body, limit);
    if (!(await this.exists(ref))) throw new ProviderError('storage', 'not_found');
    try {
      await this.putBytes(s3Key, sealWhole(plaintext, wrapKey, context));
    } finally {
      plaintext.fill(0);
    }
    // A delete of the resource that ran meanwhile may have listed before this write landed.
    if (!(await this.exists(ref))) {
      await this.deleteKey(s3Key);
      throw new ProviderError('storage', 'not_found');
    }
    return { size: plaintext.length };
  }

  async getObject(ref: ResourceRef, key: string): Promise<{ size: number; body: Readable } | null> {
    const { s3Key, context, wrapKey } = await this.locate(ref, key);
    const sealed = await this.getBytes(s3Key);
    if (sealed === null) return null;
    const parts = openWhole(sealed, wrapKey, context);
    const size = parts.reduce((sum, part) => sum + part.length, 0);
    return { size, body: Readable.from(parts.filter((part) => part.length > 0)) };
  }

  async deleteObject(ref: ResourceRef, key: string): Promise<boolean> {
    const { s3Key } = await this.locate(ref, key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: s3Key }));
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await this.deleteKey(s3Key);
    return true;
  }

  /** The sum of the objects' plaintext sizes, from each header's (unauthenticated) size field. */
  async usedBytes(ref: ResourceRef): Promise<number> {
    let total = 0;
    for (const { key, size } of await this.keys(`${this.resourcePrefix(ref)}objects/`)) {
      let header: Buffer | null = null;
      try {
        const answer = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${HEADER_BYTES - 1}` }),
        );
        header = answer.Body === undefined ? null : Buffer.from(await answer.Body.transformToByteArray());
      } catch (error) {
        if (isMissing(error)) continue; // deleted meanwhile
        throw error;
      }
      total += (header === null ? null : peekSize(header)) ?? size;
    }
    return total;
  }
}

/** An S3 client for `s3`: path-style with an endpoint, checksums only where S3 requires them. */
export function openS3Client(s3: S3Location): S3Client {
  const config: S3ClientConfig = {
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: s3.forcePathStyle ?? s3.endpoint !== undefined,
    // S3-compatible servers differ in the newer checksums; the signature covers the body either way.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
  };
  return new S3Client(config);
}

/**
 * Opens the storage provider on an S3-compatible store. Checks that the bucket answers, so a wrong
 * endpoint or credentials stop the server at start rather than at the first object.
 *
 * @example
 * const storage = await createS3StorageProvider({ s3: { endpoint, region, bucket, prefix: 'bulkhead/', … }, dataKeys });
 */
export async function createS3StorageProvider(options: S3StorageProviderOptions): Promise<ObjectProvider> {
  const { s3 } = options;
  if (typeof s3?.bucket !== 'string' || s3.bucket.length === 0)
    throw new TypeError('S3 storage needs a bucket');
  if (s3.prefix !== '' && !s3.prefix.endsWith('/')) throw new TypeError('an S3 prefix must end with /');
  const maxObjectBytes = maxObjectBytesOf(options);
  const client = openS3Client(s3);
  const provider = new S3StorageProvider(
    client,
    s3.bucket,
    s3.prefix,
    options.dataKeys,
    maxObjectBytes,
    s3.endpoint ?? `s3.${s3.region}.amazonaws.com`,
  );
  try {
    await client.send(new HeadBucketCommand({ Bucket: s3.bucket }));
  } catch (error) {
    client.destroy();
    throw new Error(`the S3 bucket ${s3.bucket} does not answer: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return provider;
}
