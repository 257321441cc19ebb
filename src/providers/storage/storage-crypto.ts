// The on-disk object format. Every object has its own random 256-bit key, wrapped (AES-256-GCM) by a key
// derived from its domain's data key, with the resource and file name bound in, so a file copied under
// another name, resource or domain does not open. The body is AES-256-GCM chunks whose nonces carry the
// chunk's index and a last-chunk flag, so a reader releases only authenticated plaintext and detects
// truncation, reordering and tampering. Pure functions over buffers: no I/O here.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { ProviderError } from '../provider.js';

/** Plaintext bytes per chunk (the last chunk may be shorter, and is empty for an empty object). */
export const CHUNK_SIZE = 64 * 1024;
export const TAG_BYTES = 16;

const MAGIC = Buffer.from('BHSO', 'ascii');
const FORMAT_VERSION = 1;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const NONCE_PREFIX_BYTES = 7;
// Chunk counters are 4 bytes of the nonce; more chunks than that would repeat a nonce under one key.
const MAX_CHUNKS = 2 ** 32;
// Readers accept other chunk sizes (the header says which) but not absurd ones that would make them
// allocate without bound on a forged header.
const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

// Header layout. Everything before `wrapNonce` is authenticated as associated data of the key wrap.
const OFF_VERSION = 4;
const OFF_CHUNK_SIZE = 5;
const OFF_SIZE = 9;
const OFF_NONCE_PREFIX = 17;
const OFF_WRAP_NONCE = 24;
const OFF_WRAPPED_KEY = OFF_WRAP_NONCE + NONCE_BYTES;
const OFF_WRAP_TAG = OFF_WRAPPED_KEY + KEY_BYTES;
export const HEADER_BYTES = OFF_WRAP_TAG + TAG_BYTES;

/** The keys a domain's data key is split into, so one key never serves two algorithms. */
export interface StorageKeys {
  /** Wraps each object's own key (AES-256-GCM). */
  readonly wrapKey: Buffer;
  /** Names object files (HMAC-SHA256 of the object key). */
  readonly nameKey: Buffer;
}

export function deriveStorageKeys(dataKey: Buffer): StorageKeys {
  if (dataKey.length !== KEY_BYTES) throw new Error('a domain data key must be 32 bytes');
  const derive = (info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, KEY_BYTES));
  return {
    wrapKey: derive('bulkhead storage: object key wrap v1'),
    nameKey: derive('bulkhead storage: object file name v1'),
  };
}

/**
 * The file name of an object: 64 hex digits. Keyed by the domain, so file names (which may linger in
 * freed directory blocks) reveal nothing about object keys and become meaningless once the domain's
 * key is destroyed. The caller's key never reaches a path any other way.
 */
export function objectFileName(nameKey: Buffer, objectKeyBytes: Buffer): string {
  return createHmac('sha256', nameKey).update(objectKeyBytes).digest('hex');
}

/** Where an object lives; bound into its wrapped key so the file does not open anywhere else. */
export interface ObjectContext {
  /** backendName(ref): carries the domain and the resource. */
  readonly resourceName: string;
  readonly fileName: string;
}

function wrapAad(context: ObjectContext, headerPrefix: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`bulkhead storage object v1\0${context.resourceName}\0${context.fileName}\0`, 'utf8'),
    headerPrefix,
  ]);
}

function chunkNonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  nonce[NONCE_BYTES - 1] = last ? 1 : 0;
  return nonce;
}

/** How many chunks an object of `size` bytes has: at least one, since an empty object is one empty chunk. */
export function chunkCount(size: number, chunkSize: number): number {
  return size === 0 ? 1 : Math.ceil(size / chunkSize);
}

/** The exact length of the file holding an object of `size` plaintext bytes. */
export function sealedLength(size: number, chunkSize: number): number {
  return HEADER_BYTES + size + chunkCount(size, chunkSize) * TAG_BYTES;
}

/** Encrypts one object, chunk by chunk, in order; `header` is computed last, once the size is known. */
export class ObjectSealer {
  private readonly objectKey = randomBytes(KEY_BYTES);
  private readonly noncePrefix = randomBytes(NONCE_PREFIX_BYTES);
  private index = 0;
  private finished = false;

  constructor(readonly chunkSize: number = CHUNK_SIZE) {}

  /** Returns ciphertext followed by its tag. Full chunks only, except the last. */
  sealChunk(plaintext: Buffer, last: boolean): Buffer {
    if (this.finished) throw new Error('the object is already sealed');
    if (plaintext.length > this.chunkSize || (!last && plaintext.length !== this.chunkSize)) {
      throw new Error('a chunk that is not the last must be exactly the chunk size');
    }
    if (this.index >= MAX_CHUNKS) throw new ProviderError('storage', 'object_too_large');
    const cipher = createCipheriv(
      'aes-256-gcm',
      this.objectKey,
      chunkNonce(this.noncePrefix, this.index, last),
    );
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    this.index++;
    this.finished = last;
    return sealed;
  }

  /** The file header for an object of `size` bytes, with the object key wrapped under `wrapKey`. */
  header(size: number, wrapKey: Buffer, context: ObjectContext): Buffer {
    if (!this.finished) throw new Error('the last chunk has not been sealed');
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header[OFF_VERSION] = FORMAT_VERSION;
    header.writeUInt32BE(this.chunkSize, OFF_CHUNK_SIZE);
    header.writeBigUInt64BE(BigInt(size), OFF_SIZE);
    this.noncePrefix.copy(header, OFF_NONCE_PREFIX);
    const wrapNonce = randomBytes(NONCE_BYTES);
    wrapNonce.copy(header, OFF_WRAP_NONCE);
    const cipher = createCipheriv('aes-256-gcm', wrapKey, wrapNonce);
    cipher.setAAD(wrapAad(context, header.subarray(0, OFF_WRAP_NONCE)));
    Buffer.concat([cipher.update(this.objectKey), cipher.final()]).copy(header, OFF_WRAPPED_KEY);
    cipher.getAuthTag().copy(header, OFF_WRAP_TAG);
    return header;
  }

  /** Best effort: the object key should not outlive the write in this process's memory. */
  dispose(): void {
    this.objectKey.fill(0);
  }
}

/** The unauthenticated size field of a header, for quota sums; null when it is not one of ours. */
export function peekSize(header: Buffer): number | null {
  if (
    header.length < OFF_NONCE_PREFIX ||
    !header.subarray(0, 4).equals(MAGIC) ||
    header[OFF_VERSION] !== FORMAT_VERSION
  ) {
    return null;
  }
  const size = header.readBigUInt64BE(OFF_SIZE);
  return size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : null;
}

/** An object whose header authenticated: its key unwrapped, its size and layout known. */
export interface OpenedObject {
  readonly size: number;
  readonly chunkSize: number;
  readonly chunks: number;
  readonly noncePrefix: Buffer;
  readonly objectKey: Buffer;
}

/**
 * Checks a header against the file's length and unwraps the object key. Throws `corrupt` for anything
 * that does not authenticate: a wrong domain, resource or file name, a changed field, a cut file.
 */
export function openHeader(
  header: Buffer,
  fileLength: number,
  wrapKey: Buffer,
  context: ObjectContext,
): OpenedObject {
  if (
    header.length < HEADER_BYTES ||
    !header.subarray(0, 4).equals(MAGIC) ||
    header[OFF_VERSION] !== FORMAT_VERSION
  ) {
    throw new ProviderError('storage', 'corrupt', 'The stored object has no valid header.');
  }
  const chunkSize = header.readUInt32BE(OFF_CHUNK_SIZE);
  const size = peekSize(header);
  if (
    chunkSize === 0 ||
    chunkSize > MAX_CHUNK_SIZE ||
    size === null ||
    chunkCount(size, chunkSize) > MAX_CHUNKS
  ) {
    throw new ProviderError('storage', 'corrupt', 'The stored object has an invalid header.');
  }
  if (sealedLength(size, chunkSize) !== fileLength) {
    throw new ProviderError('storage', 'corrupt', 'The stored object has the wrong length.');
  }
  let objectKey: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      wrapKey,
      header.subarray(OFF_WRAP_NONCE, OFF_WRAPPED_KEY),
    );
    decipher.setAAD(wrapAad(context, header.subarray(0, OFF_WRAP_NONCE)));
    decipher.setAuthTag(header.subarray(OFF_WRAP_TAG, HEADER_BYTES));
    objectKey = Buffer.concat([
      decipher.update(header.subarray(OFF_WRAPPED_KEY, OFF_WRAP_TAG)),
      decipher.final(),
    ]);
  } catch (error) {
    throw new ProviderError('storage', 'corrupt', 'The stored object key does not unwrap here.', {
      cause: error,
    });
  }
  return {
    size,
    chunkSize,
    chunks: chunkCount(size, chunkSize),
    noncePrefix: Buffer.from(header.subarray(OFF_NONCE_PREFIX, OFF_WRAP_NONCE)),
    objectKey,
  };
}

/** The bytes of a header that hold the wrapped object key (nonce, ciphertext, tag). */
export function wrappedKeyBytes(header: Buffer): Buffer {
  return Buffer.from(header.subarray(OFF_WRAP_NONCE, HEADER_BYTES));
}

/** The plaintext length of chunk `index` of an opened object. */
export function chunkPlainLength(object: OpenedObject, index: number): number {
  return index < object.chunks - 1 ? object.chunkSize : object.size - (object.chunks - 1) * object.chunkSize;
}

/** Decrypts chunk `index` (ciphertext followed by tag); throws `corrupt` unless it authenticates. */
export function openChunk(object: OpenedObject, index: number, sealed: Buffer): Buffer {
  const last = index === object.chunks - 1;
  if (sealed.length !== chunkPlainLength(object, index) + TAG_BYTES) {
    throw new ProviderError('storage', 'corrupt', 'A chunk of the stored object is cut short.');
  }
  const decipher = createDecipheriv(
    'aes-256-gcm',
    object.objectKey,
    chunkNonce(object.noncePrefix, index, last),
  );
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  // GCM releases plaintext from update() before the tag is checked: nothing leaves here until final().
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch (error) {
    plaintext.fill(0);
    throw new ProviderError('storage', 'corrupt', 'A chunk of the stored object failed authentication.', {
      cause: error,
    });
  }
  return plaintext;
}
