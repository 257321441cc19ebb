// The embedded PostgreSQL provider, for a first run without a server: each resource is its own PGlite
// data directory, <root>/<backendName>, owner-only (0700). There is no login: a credential is the path
// of one directory, and isolation is that no two resources share a directory. Assumes one process per root.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, cp, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type * as contract from '../provider.js';
import { backendName, ProviderError, refFromBackendName } from '../provider.js';
import { errno, KeyedMutex } from '../files.js';
import { isDataDir, pathExists } from './pglite-fs.js';
import { probeEmbeddedIsolation } from './pglite-probe.js';

// A fresh cluster, initialised once and copied for every resource: PGlite's initdb takes seconds, a
// copy a fraction of one. Kept closed, so no copy ever catches it mid-write.
const TEMPLATE = '.template';
// Work in progress is built under a dot-name and renamed into place, so a directory with a backend
// name is always complete, and a crash leaves only names listOwned() ignores.
const tempName = (name: string) => `.tmp-${name}-${randomBytes(6).toString('hex')}`;

/** Creates the root owner-only, or narrows an existing one; refuses a link or a file. */
async function prepareRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const stat = await lstat(root);
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    throw new ProviderError(
      'postgres',
      'invalid_options',
      `postgres embedded root ${root} is not a plain directory`,
    );
  }
  // mkdir's mode is narrowed by the umask, and a root left by an older run may be wider.
  if ((stat.mode & 0o777) !== 0o700) await chmod(root, 0o700);
}

export class PgliteProvider implements contract.Provider {
  readonly kind = 'postgres' as const;
  readonly capabilities = { objects: false } as const;
  private readonly mutex = new KeyedMutex();
  private template: Promise<string> | undefined;
  readonly backend: contract.BackendIdentity;

  private constructor(readonly root: string) {
    this.backend = { type: 'postgres-embedded', location: root };
  }

  static async open(root: string): Promise<PgliteProvider> {
    await prepareRoot(root);
    return new PgliteProvider(root);
  }

  async create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const name = backendName(ref);
    const dir = join(this.root, name);
    await this.mutex.run(name, async () => {
      if (await isDataDir(dir)) return;
      const template = await this.templateDir();
      const temp = join(this.root, tempName(name));
      try {
        // A copy-on-write clone where the file system has them (btrfs, xfs, APFS), a plain copy elsewhere.
        await cp(template, temp, {
          recursive: true,
          errorOnExist: true,
          force: false,
          mode: constants.COPYFILE_FICLONE,
        });
        await chmod(temp, 0o700);
        await rename(temp, dir);
      } catch (error) {
        await rm(temp, { recursive: true, force: true });
        // Another process finished the same resource first; anything else in the way is not ours.
        if (!(await isDataDir(dir))) throw error;
      }
    });
    return credentialsFor(dir);
  }

  async inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    const dir = join(this.root, backendName(ref));
    const exists = await isDataDir(dir);
    return {
      exists,
      // PGlite keeps postmaster.pid while a database is open and removes it on close.
      details: {
        mode: 'embedded',
        dataDir: dir,
        open: exists && (await pathExists(join(dir, 'postmaster.pid'))),
      },
    };
  }

  async delete(ref: contract.ResourceRef): Promise<void> {
    const name = backendName(ref);
    await this.mutex.run(name, async () => {
      await rm(join(this.root, name), { recursive: true, force: true });
      // Leftovers of a create that crashed before its rename.
      for (const entry of await readdir(this.root)) {
        if (entry.startsWith(`.tmp-${name}-`))
          await rm(join(this.root, entry), { recursive: true, force: true });
      }
    });
  }

  async credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const dir = join(this.root, backendName(ref));
    if (!(await isDataDir(dir)))
      throw new ProviderError('postgres', 'not_found', `${dir} is not a data directory`);
    // Nothing to rotate: the path is the whole credential, and only its owner can open it.
    return credentialsFor(dir);
  }

  probeIsolation(a: contract.ProbeSide, b: contract.ProbeSide): Promise<contract.ProbeReport> {
    return probeEmbeddedIsolation(this.root, a, b);
  }

  async listOwned(): Promise<contract.OwnedObject[]> {
    const owned: contract.OwnedObject[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      const ref = refFromBackendName(entry.name);
      if (ref !== null && entry.isDirectory()) owned.push({ ref, name: entry.name });
    }
    return owned.sort((x, y) => x.name.localeCompare(y.name));
  }

  async close(): Promise<void> {
    // Every PGlite instance this provider opens is closed before the call that opened it returns.
  }

  private templateDir(): Promise<string> {
    this.template ??= this.makeTemplate().catch((error: unknown) => {
      this.template = undefined;
      throw error;
    });
    return this.template;
  }

  private async makeTemplate(): Promise<string> {
    const dir = join(this.root, TEMPLATE);
    if (await isDataDir(dir)) return dir;
    const temp = join(this.root, tempName('template'));
    await mkdir(temp, { mode: 0o700 });
    try {
      const db = await PGlite.create(temp);
      await db.close();
      await rename(temp, dir);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      if (errno(error) === undefined || !(await isDataDir(dir))) throw error;
    }
    return dir;
  }
}

function credentialsFor(dataDir: string): contract.Credentials {
  return { mode: 'embedded', dataDir };
}
