// Small file-system steps of the embedded provider. Nothing here follows a symbolic link at the last
// path component when deciding what a directory is: a link is never taken for a resource.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { errno } from '../files.js';

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
