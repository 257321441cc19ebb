// Where things live under the storage root: <root>/<backendName(ref)>/objects/<64 hex digits>. The only
// caller-supplied string that reaches a path is an object key, and only through a keyed hash, after
// validation here. The root itself must be a real directory that only its owner can enter.
import { lstat, mkdir, chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { backendName, ProviderError, type ResourceRef } from '../provider.js';
import { errno } from '../files.js';

export const MAX_OBJECT_KEY_BYTES = 1024;

// Cc covers NUL, C0, DEL and C1; Cs (in /u mode, lone surrogates only) catches strings that are not valid
// UTF-16: they would encode to U+FFFD and two different keys would name the same object.
const FORBIDDEN = /[\p{Cc}\p{Cs}]/u;

/** The object key as UTF-8 bytes, or `invalid_object_key`. */
export function objectKeyBytes(key: unknown): Buffer {
  if (typeof key !== 'string' || FORBIDDEN.test(key))
    throw new ProviderError('storage', 'invalid_object_key');
  const bytes = Buffer.from(key, 'utf8');
  if (bytes.length < 1 || bytes.length > MAX_OBJECT_KEY_BYTES)
    throw new ProviderError('storage', 'invalid_object_key');
  return bytes;
}

const OBJECT_NAME = /^[0-9a-f]{64}$/;

/** True for a committed object's file name (not a temporary or superseded file). */
export function isObjectFileName(name: string): boolean {
  return OBJECT_NAME.test(name);
}

/** A file being written; it becomes `<name>` by an atomic rename, or is shredded. */
export function tempFileName(name: string, nonce: string): string {
  return `${name}.tmp-${nonce}`;
}

/** A superseded object, kept by a second link until it is overwritten, so a crash cannot lose track of it. */
export function supersededFileName(name: string, nonce: string): string {
  return `${name}.old-${nonce}`;
}

export interface ResourcePaths {
  readonly name: string;
  readonly dir: string;
  readonly objects: string;
}

export function resourcePaths(root: string, ref: ResourceRef): ResourcePaths {
  const name = backendName(ref);
  const dir = join(root, name);
  return { name, dir, objects: join(dir, 'objects') };
}

/**
 * Creates the root (0700) when missing; refuses a root that is a symbolic link, not a directory, open to
 * group or others, or owned by another user: object files are encrypted, but their names, sizes and
 * count are not secret from whoever can list them, and nobody else may plant files there.
 */
export async function prepareRoot(root: string): Promise<void> {
  let stat = await lstat(root).catch((error: unknown) => {
    if (errno(error) === 'ENOENT') return null;
    throw error;
  });
  if (stat === null) {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await chmod(root, 0o700);
    stat = await lstat(root);
  }
  if (stat.isSymbolicLink())
    throw new Error(`storage root ${root} is a symbolic link; point it at the real directory`);
  if (!stat.isDirectory()) throw new Error(`storage root ${root} is not a directory`);
  if ((stat.mode & 0o077) !== 0) {
    throw new Error(
      `storage root ${root} is open to group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 700 on it`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new Error(`storage root ${root} belongs to uid ${stat.uid}, not to this process (uid ${uid})`);
  }
}

/** The names in a directory; none when it does not exist. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
}
