// Small file-system steps of the embedded provider. Nothing here follows a symbolic link at the last
// path component when deciding what a directory is: a link is never taken for a resource.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** The Node error code of a failed system call (ENOENT, EEXIST …), if it is one. */
export function errno(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('E') ? code : undefined;
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errno(error) === 'ENOENT') return false;
    throw error;
  }
}

/** True for a real directory (not a link) that holds an initialised cluster. */
export async function isDataDir(dir: string): Promise<boolean> {
  try {
    return (await lstat(dir)).isDirectory() && (await lstat(join(dir, 'PG_VERSION'))).isFile();
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return false;
    throw error;
  }
}

/** Runs tasks one at a time per name, in call order; different names run concurrently. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(name: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(name, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
