// File-system steps the provider builds on: full writes and reads at a position, shredding (overwrite
// with zeros, fsync, unlink) and owner-only directories. Nothing here follows a symbolic link at the last
// path component, and shredding goes through an open handle, so it overwrites the very inode it found.
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errno } from '../files.js';

const ZERO_BLOCK = 1024 * 1024;

export async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Fills `into` from `position`; returns how many bytes there were (fewer only at end of file). */
export async function readFully(handle: FileHandle, into: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Overwrites the first `length` bytes of an open file with zeros and flushes them to the disk. */
export async function zeroFill(handle: FileHandle, length: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(Math.max(length, 1), ZERO_BLOCK));
  for (let position = 0; position < length; position += zeros.length) {
    await writeFully(handle, zeros.subarray(0, Math.min(zeros.length, length - position)), position);
  }
  await handle.sync();
}

/**
 * Overwrites a file with zeros over its whole length, flushes, then unlinks it. False when there was
 * none. A symbolic link is only unlinked: what it points to is not ours.
 */
export async function shredFile(path: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (error) {
    if (errno(error) === 'ENOENT') return false;
    if (errno(error) !== 'ELOOP') throw error;
    return unlinkIfPresent(path);
  }
  try {
    const stat = await handle.stat();
    if (stat.isFile()) await zeroFill(handle, stat.size);
  } finally {
    await handle.close();
  }
  await unlinkIfPresent(path);
  return true;
}

export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (errno(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Shreds every file below `dir` and removes its directories, `dir` included. `shred` is called for each
 * file so the caller can order it with other writers of the same name.
 */
export async function shredTree(dir: string, shred: (path: string) => Promise<unknown>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await shredTree(path, shred);
    else await shred(path);
  }
  try {
    await rmdir(dir);
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error;
  }
}

/** Makes a rename or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates `dir` if missing; either way it ends up a real directory (not a link) with mode 0700. */
export async function ensureOwnerDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if (errno(error) !== 'EEXIST') throw error;
  }
  const stat = await lstat(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
  // mkdir's mode is narrowed by the umask, and a directory left by an older run may be wider.
  if ((stat.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}
