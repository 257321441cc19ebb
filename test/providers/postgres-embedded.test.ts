// The embedded PostgreSQL provider: a PGlite data directory per resource in a fresh temporary root.
// What is asserted is what must hold without a server: owner-only directories, credentials naming
// exactly one of them, and a probe that finds no way from A to B. What every provider promises (create,
// credentials, delete, idempotency, the probe both ways) is in contract.ts, run by
// postgres-embedded-contract.test.ts.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import {
  backendName,
  type Credentials,
  type Provider,
  type ResourceRef,
} from '../../src/providers/provider.js';
import { tempDir } from '../helpers/processes.js';
import { isProviderError } from '../../src/providers/provider.js';

const newRef = (): ResourceRef => ({ domainId: newId('domain'), resourceId: newId('resource') });

/** Runs `fn` on the database the credentials name, as a tenant would open it. */
async function withDatabase<T>(credentials: Credentials, fn: (db: PGlite) => Promise<T>): Promise<T> {
  const db = await PGlite.create(String(credentials['dataDir']));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('postgres provider, embedded', () => {
  const dir = tempDir('bulkhead-pglite-');
  const root = join(dir.path, 'postgres');
  let provider: Provider;
  let a: ResourceRef;
  let b: ResourceRef;
  let credsA: Credentials;
  let credsB: Credentials;

  beforeAll(async () => {
    provider = await createPostgresProvider({ kind: 'embedded', root });
    a = newRef();
    b = newRef();
    // Concurrently, so both wait on one template.
    [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
  }, 60_000);

  afterAll(async () => {
    await provider?.close();
    dir.remove();
  });

  it('gives each resource its own owner-only data directory, named in its credentials', async () => {
    expect(credsA).toEqual({ mode: 'embedded', dataDir: join(root, backendName(a)) });
    expect(credsB['dataDir']).not.toBe(credsA['dataDir']);
    for (const path of [root, String(credsA['dataDir']), String(credsB['dataDir'])]) {
      expect(statSync(path).mode & 0o777, path).toBe(0o700);
    }
    await withDatabase(credsA, async (db) => {
      await db.exec("CREATE TABLE mine (v text); INSERT INTO mine VALUES ('A-DATA')");
      expect((await db.query('SELECT v FROM mine')).rows).toEqual([{ v: 'A-DATA' }]);
    });
    await withDatabase(credsB, async (db) => {
      expect((await db.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'mine'")).rows).toEqual(
        [{ n: 0 }],
      );
    });
  });

  it('creates idempotently and hands out the same credentials, keeping the data', async () => {
    expect(await provider.create(a)).toEqual(credsA);
    expect(await provider.credentials(a)).toEqual(credsA);
    await withDatabase(credsA, async (db) => {
      expect((await db.query('SELECT v FROM mine')).rows).toEqual([{ v: 'A-DATA' }]);
    });
  });

  it('inspects without opening, and says when a database is open', async () => {
    expect(await provider.inspect(a)).toEqual({
      exists: true,
      details: { mode: 'embedded', dataDir: credsA['dataDir'], open: false },
    });
    expect((await provider.inspect(newRef())).exists).toBe(false);
  });

  it('lists resource directories and ignores everything else in the root', async () => {
    mkdirSync(join(root, 'not-ours'));
    mkdirSync(join(root, `bh_${'x'.repeat(26)}_short`));
    const fileNamedLikeOne = newRef();
    writeFileSync(join(root, backendName(fileNamedLikeOne)), 'a file, not a directory');
    const owned = await provider.listOwned();
    expect(owned).toEqual(
      expect.arrayContaining([
        { ref: a, name: backendName(a) },
        { ref: b, name: backendName(b) },
      ]),
    );
    expect(owned).toHaveLength(2);
  });

  it('probes A against B: every attempt refused, B untouched, nothing left behind', async () => {
    const report = await provider.probeIsolation(
      { ref: a, credentials: credsA },
      { ref: b, credentials: credsB },
    );
    expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
    expect(report.refused).toBe(true);
    expect(report.attempts.length).toBeGreaterThanOrEqual(10);
    for (const name of [backendName(a), backendName(b)]) {
      expect((await readdir(join(root, name))).filter((f) => f.startsWith('bulkhead-probe-'))).toEqual([]);
    }
  });

  it('probes honestly: credentials naming B, or a path out of A, are not refused', async () => {
    const forged = { mode: 'embedded', dataDir: join(String(credsA['dataDir']), '..', backendName(b)) };
    const report = await provider.probeIsolation(
      { ref: a, credentials: forged },
      { ref: b, credentials: credsB },
    );
    expect(report.refused).toBe(false);
    expect(report.attempts.find((t) => !t.refused)?.attempt).toBe(
      "reach B's directory through A's credentials as given",
    );
  });

  it("refuses to probe while A's database is open elsewhere", async () => {
    await withDatabase(credsA, async () => {
      const error = await provider
        .probeIsolation({ ref: a, credentials: credsA }, { ref: b, credentials: credsB })
        .catch((e: unknown) => e);
      expect(isProviderError(error, 'probe_setup') && error.provider === 'postgres').toBe(true);
      expect((await provider.inspect(a)).details['open']).toBe(true);
    });
  });
});
