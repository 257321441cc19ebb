// The provider contract on embedded PostgreSQL: a PGlite data directory per resource in a fresh
// temporary root. The file system says what exists; a tenant opens its directory as PGlite.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import { backendName } from '../../src/providers/provider.js';
import { tempDir } from '../helpers/processes.js';
import { describeProviderContract } from './contract.js';

const dir = tempDir('bulkhead-pglite-');
const root = join(dir.path, 'postgres');

describeProviderContract({
  name: 'postgres (embedded)',
  kind: 'postgres',
  open: () => createPostgresProvider({ kind: 'embedded', root }),
  async use(_provider, _ref, credentials) {
    const dataDir = String(credentials['dataDir']);
    // PGlite would make a new database in a missing directory; a tenant finds none there.
    if (!existsSync(dataDir)) throw new Error(`${dataDir} does not exist`);
    const db = await PGlite.create(dataDir);
    try {
      await db.query('SELECT 1');
    } finally {
      await db.close();
    }
  },
  refusal: /does not exist/,
  async objects(ref) {
    const names = existsSync(root) ? await readdir(root) : [];
    return names.filter((name) => name === backendName(ref));
  },
  secrets: [],
  cleanup: () => Promise.resolve(dir.remove()),
});
