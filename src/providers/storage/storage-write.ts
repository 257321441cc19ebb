// Writing an object: the body is encrypted as it streams into a temporary file (0600) beside the object,
// never held whole in memory, and becomes the object by one atomic rename. Past the limit, or on any
// failure, the temporary file is overwritten with zeros through its own handle and removed, so nothing
// partial stays, even if someone else unlinked it meanwhile. A replaced object is overwritten too.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CHUNK_SIZE, HEADER_BYTES, ObjectSealer, type ObjectContext } from './storage-crypto.js';
import { errno, type KeyedMutex } from '../files.js';
import { fsyncDir, shredFile, unlinkIfPresent, writeFully, zeroFill } from './storage-fs.js';
import { supersededFileName, tempFileName } from './storage-layout.js';
import { ProviderError } from '../provider.js';

export interface WriteTarget {
  /** The resource's objects directory. */
  readonly dir: string;
  readonly context: ObjectContext;
  readonly wrapKey: Buffer;
  /** Most plaintext bytes accepted. */
  readonly limit: number;
  /** Orders the final rename with other writers and deleters of the same object. */
  readonly mutex: KeyedMutex;
}

function asBuffer(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  if (typeof piece === 'string') return Buffer.from(piece, 'utf8');
  throw new TypeError('an object body must be a stream of bytes');
}

/** Writes the object and returns its plaintext size. */
export async function writeObject(target: WriteTarget, body: Readable): Promise<number> {
  const finalPath = join(target.dir, target.context.fileName);
  const tempPath = join(target.dir, tempFileName(target.context.fileName, randomBytes(8).toString('hex')));
  let handle: FileHandle;
  try {
    handle = await open(
      tempPath,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    // The objects directory is missing: the resource was never created, or is being deleted.
    if (errno(error) === 'ENOENT') throw new ProviderError('storage', 'not_found');
    throw error;
  }
  const sealer = new ObjectSealer(CHUNK_SIZE);
  // The file's length so far (chunks are written from the end of the header on; the header comes last).
  let end = 0;
  let committed = false;
  try {
    let position = HEADER_BYTES;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const seal = async (plaintext: Buffer, last: boolean): Promise<void> => {
      const sealed = sealer.sealChunk(plaintext, last);
      await writeFully(handle, sealed, position);
      position += sealed.length;
      end = position;
    };
    for await (const piece of body as AsyncIterable<unknown>) {
      const bytes = asBuffer(piece);
      size += bytes.length;
      // Leaving the loop destroys the body, so an oversized upload stops being read here.
      if (size > target.limit) throw new ProviderError('storage', 'object_too_large');
      pending.push(bytes);
      pendingBytes += bytes.length;
      // Hold back a full chunk until more arrives: only at the end is it known which chunk is the last.
      if (pendingBytes > sealer.chunkSize) {
        const all = pending.length === 1 ? bytes : Buffer.concat(pending, pendingBytes);
        let offset = 0;
        while (pendingBytes - offset > sealer.chunkSize) {
          await seal(all.subarray(offset, offset + sealer.chunkSize), false);
          offset += sealer.chunkSize;
        }
        pending = [all.subarray(offset)];
        pendingBytes -= offset;
      }
    }
    await seal(Buffer.concat(pending, pendingBytes), true);
    await writeFully(handle, sealer.header(size, target.wrapKey, target.context), 0);
    await handle.sync();
    await target.mutex.run(finalPath, async () => {
      const superseded = await keepSuperseded(finalPath, target.context.fileName, target.dir);
      try {
        await rename(tempPath, finalPath);
      } catch (error) {
        // The old object is still the current one: drop only the second name, not its data.
        if (superseded !== null) await unlinkIfPresent(superseded);
        // The temporary file vanished: the resource is being deleted under this write.
        throw errno(error) === 'ENOENT'
          ? new ProviderError('storage', 'not_found', undefined, { cause: error })
          : error;
      }
      committed = true;
      await fsyncDir(target.dir);
      if (superseded !== null) await shredFile(superseded);
    });
    return size;
  } catch (error) {
    if (committed) throw error;
    try {
      // A write that failed halfway may have gone past `end`: cover whatever the file holds.
      await zeroFill(handle, Math.max(end, (await handle.stat()).size));
      await unlinkIfPresent(tempPath);
    } catch (cleanupError) {
      // Worse than the original failure: a partial file may remain. Say so, and keep both.
      throw new Error('could not shred a partly written object', {
        cause: new AggregateError([error, cleanupError]),
      });
    }
    throw error;
  } finally {
    sealer.dispose();
    await handle.close();
  }
}

/**
 * Gives the object about to be replaced a second name, so it can be overwritten after the rename:
 * readers see the old object or the new one, never a zeroed one, and a crash between the two steps
 * leaves a file that delete() still finds and shreds rather than freed blocks nobody overwrote.
 */
async function keepSuperseded(finalPath: string, fileName: string, dir: string): Promise<string | null> {
  const superseded = join(dir, supersededFileName(fileName, randomBytes(8).toString('hex')));
  try {
    await link(finalPath, superseded);
    return superseded;
  } catch (error) {
    if (errno(error) === 'ENOENT') return null;
    throw error;
  }
}
