// The storage provider: per-resource directories of encrypted objects on the local file system. Each
// object is sealed under its own key, wrapped by its domain's data key, so destroying the domain's key
// shreds everything of the domain; deleting an object or a resource also overwrites its files with zeros
// before unlinking them. Assumes one process per storage root, and ids that the core has validated.
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type BackendIdentity,
  type Credentials,
  type DataKeySource,
  type InspectResult,
  type ObjectProvider,
  type OwnedObject,
  type ProbeReport,
  type ProbeSide,
  refFromBackendName,
  type ResourceRef,
} from '../provider.js';
import {
  deriveStorageKeys,
  HEADER_BYTES,
  objectFileName,
  peekSize,
  type ObjectContext,
} from './storage-crypto.js';
import { errno, KeyedMutex } from '../files.js';
import { ensureOwnerDir, fsyncDir, readFully, shredFile, shredTree, unlinkIfPresent } from './storage-fs.js';
import { isObjectFileName, listNames, objectKeyBytes, prepareRoot, resourcePaths } from './storage-layout.js';
import { probeIsolation, type ProbeTarget } from './storage-probe.js';
import { readObject } from './storage-read.js';
import {
  credentialsFor,
  DELETE_ROUNDS,
  existingCredentials,
  maxObjectBytesOf,
  objectLimit,
  type SealedObjectOptions,
} from './storage-objects.js';
import { writeObject } from './storage-write.js';

export interface StorageProviderOptions extends SealedObjectOptions {
  /** The directory that holds every resource's directory; created (0700) when missing. */
  readonly root: string;
}

class StorageProvider implements ObjectProvider, ProbeTarget {
  readonly kind = 'storage' as const;
  readonly capabilities = { objects: true } as const;
  private readonly mutex = new KeyedMutex();
  readonly backend: BackendIdentity;

  constructor(
    readonly root: string,
    private readonly dataKeys: DataKeySource,
    private readonly maxObjectBytes: number,
  ) {
    this.backend = { type: 'storage', location: root };
  }

  async locate(
    ref: ResourceRef,
    key: string,
  ): Promise<{ path: string; context: ObjectContext; wrapKey: Buffer }> {
    // The key is checked before anything else, so a bad key costs no key lookup and touches no file.
    const keyBytes = objectKeyBytes(key);
    const paths = resourcePaths(this.root, ref);
    const dataKey = await this.dataKeys.dataKey(ref.domainId);
    const { wrapKey, nameKey } = deriveStorageKeys(dataKey);
    const fileName = objectFileName(nameKey, keyBytes);
    return { path: join(paths.objects, fileName), context: { resourceName: paths.name, fileName }, wrapKey };
  }

  async exists(ref: ResourceRef): Promise<boolean> {
    try {
      return (await lstat(resourcePaths(this.root, ref).objects)).isDirectory();
    } catch (error) {
      if (errno(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async create(ref: ResourceRef): Promise<Credentials> {
    const paths = resourcePaths(this.root, ref);
    await ensureOwnerDir(paths.dir);
    await ensureOwnerDir(paths.objects);
    await fsyncDir(paths.dir);
    await fsyncDir(this.root);
    return credentialsFor(ref);
  }

  async inspect(ref: ResourceRef): Promise<InspectResult> {
    const paths = resourcePaths(this.root, ref);
    if (!(await this.exists(ref))) return { exists: false, details: { name: paths.name } };
    const names = await listNames(paths.objects);
    const objects = names.filter(isObjectFileName).length;
    return {
      exists: true,
      details: {
        name: paths.name,
        objects,
        usedBytes: await this.usedBytes(ref),
        // Temporary files of writes in progress, or left by a crash; delete() shreds them.
        otherFiles: names.length - objects,
      },
    };
  }

  async delete(ref: ResourceRef): Promise<void> {
    const paths = resourcePaths(this.root, ref);
    for (let round = 0; round < DELETE_ROUNDS; round++) {
      let stat;
      try {
        stat = await lstat(paths.dir);
      } catch (error) {
        if (errno(error) === 'ENOENT') break;
        throw error;
      }
      if (!stat.isDirectory()) {
        await unlinkIfPresent(paths.dir);
        continue;
      }
      try {
        // Through the mutex, so no replacement renames a new file into place between overwrite and unlink.
        await shredTree(paths.dir, (path) => this.mutex.run(path, () => shredFile(path)));
      } catch (error) {
        if (errno(error) === 'ENOTEMPTY') continue;
        throw error;
      }
    }
    if (
      await lstat(paths.dir).then(
        () => true,
        () => false,
      )
    ) {
      throw new Error(`storage resource ${paths.name} kept receiving files while it was deleted`);
    }
    await fsyncDir(this.root);
  }

  credentials(ref: ResourceRef): Promise<Credentials> {
    return existingCredentials(this, ref);
  }

  probeIsolation(a: ProbeSide, b: ProbeSide): Promise<ProbeReport> {
    return probeIsolation(this, a, b);
  }

  async listOwned(): Promise<OwnedObject[]> {
    const owned: OwnedObject[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      const ref = entry.isDirectory() ? refFromBackendName(entry.name) : null;
      if (ref !== null) owned.push({ ref, name: entry.name });
    }
    return owned;
  }

  async close(): Promise<void> {
    // Every handle is closed by the operation (or the read stream) that opened it.
  }

  async putObject(
    ref: ResourceRef,
    key: string,
    body: Readable,
    maxBytes: number,
  ): Promise<{ size: number }> {
    const limit = objectLimit(maxBytes, this.maxObjectBytes);
    const { context, wrapKey } = await this.locate(ref, key);
    const dir = resourcePaths(this.root, ref).objects;
    const size = await writeObject({ dir, context, wrapKey, limit, mutex: this.mutex }, body);
    return { size };
  }

  async getObject(ref: ResourceRef, key: string): Promise<{ size: number; body: Readable } | null> {
    const { path, context, wrapKey } = await this.locate(ref, key);
    return readObject(path, wrapKey, context);
  }

  async deleteObject(ref: ResourceRef, key: string): Promise<boolean> {
    const { path } = await this.locate(ref, key);
    const deleted = await this.mutex.run(path, () => shredFile(path));
    if (deleted) await fsyncDir(resourcePaths(this.root, ref).objects);
    return deleted;
  }

  /**
   * The sum of the objects' plaintext sizes, as putObject reported them; encryption overhead (84 bytes
   * a file, 16 a chunk) and files of writes in progress are not counted. Read from the headers without
   * authenticating them: a forged header can only misstate its own resource's usage.
   */
  async usedBytes(ref: ResourceRef): Promise<number> {
    const dir = resourcePaths(this.root, ref).objects;
    let total = 0;
    for (const name of (await listNames(dir)).filter(isObjectFileName)) {
      let handle;
      try {
        handle = await open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (error) {
        if (errno(error) === 'ENOENT') continue; // deleted meanwhile
        throw error;
      }
      try {
        const header = Buffer.alloc(HEADER_BYTES);
        await readFully(handle, header, 0);
        total += peekSize(header) ?? (await handle.stat()).size;
      } finally {
        await handle.close();
      }
    }
    return total;
  }
}

/**
 * Opens the storage provider on `root`, creating it (0700) if missing; refuses a root that is a
 * symbolic link or open to group or others.
 *
 * @example
 * const storage = await createStorageProvider({ root: '/var/lib/bulkhead/storage', dataKeys: keyring });
 * await storage.create(ref);
 * await storage.putObject(ref, 'reports/2024.pdf', stream, 10 * 1024 * 1024);
 */
export async function createStorageProvider(options: StorageProviderOptions): Promise<ObjectProvider> {
  if (typeof options.root !== 'string' || options.root.length === 0) {
    throw new TypeError('storage root must be a path');
  }
  const maxObjectBytes = maxObjectBytesOf(options);
  const root = resolve(options.root);
  await prepareRoot(root);
  return new StorageProvider(root, options.dataKeys, maxObjectBytes);
}
