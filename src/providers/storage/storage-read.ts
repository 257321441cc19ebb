// Reading an object: the header is authenticated (and the object key unwrapped) before anything is
// returned, so `size` is trustworthy up front; the body then decrypts one chunk at a time and releases
// a chunk only after its tag checks. Any failure to authenticate ends the stream with `corrupt`.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  chunkPlainLength,
  HEADER_BYTES,
  openChunk,
  openHeader,
  TAG_BYTES,
  type ObjectContext,
  type OpenedObject,
} from './storage-crypto.js';
import { errno } from '../files.js';
import { readFully } from './storage-fs.js';
import { ProviderError } from '../provider.js';

/**
 * Decrypts chunk after chunk from an open file. It holds the file handle, so an object replaced or
 * deleted meanwhile is read from the file that was opened; the overwrite that comes with a replacement
 * or a deletion makes such a read fail with `corrupt` rather than return stale data. Consume or destroy
 * it: the handle is closed only then.
 */
class DecryptingReadable extends Readable {
  private index = 0;
  private position = HEADER_BYTES;

  constructor(
    private readonly handle: FileHandle,
    private readonly object: OpenedObject,
  ) {
    super({ highWaterMark: object.chunkSize });
  }

  // Readable calls _read again only after a push, so at most one chunk is in flight.
  override _read(): void {
    this.next().catch((error: unknown) => {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  private async next(): Promise<void> {
    const sealed = Buffer.alloc(chunkPlainLength(this.object, this.index) + TAG_BYTES);
    const got = await readFully(this.handle, sealed, this.position);
    if (got !== sealed.length)
      throw new ProviderError('storage', 'corrupt', 'The stored object is cut short.');
    const plaintext = openChunk(this.object, this.index, sealed);
    this.position += sealed.length;
    this.index++;
    if (plaintext.length > 0) this.push(plaintext);
    if (this.index === this.object.chunks) this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.object.objectKey.fill(0);
    this.handle.close().then(
      () => callback(error),
      (closeError: unknown) => callback(error ?? (closeError as Error)),
    );
  }
}

/** Opens an object for reading, or null when its file does not exist. */
export async function readObject(
  path: string,
  wrapKey: Buffer,
  context: ObjectContext,
): Promise<{ size: number; body: Readable } | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (errno(error) === 'ENOENT') return null;
    if (errno(error) === 'ELOOP')
      throw new ProviderError('storage', 'corrupt', 'The stored object is not a regular file.');
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile())
      throw new ProviderError('storage', 'corrupt', 'The stored object is not a regular file.');
    const header = Buffer.alloc(HEADER_BYTES);
    await readFully(handle, header, 0);
    const object = openHeader(header, stat.size, wrapKey, context);
    return { size: object.size, body: new DecryptingReadable(handle, object) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
