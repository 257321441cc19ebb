// The store backends every store and API suite runs against: an in-memory PGlite and a fresh database
// on the PostgreSQL server named by BULKHEAD_TEST_POSTGRES_URL (default: the local server). A missing
// server fails the suite; it is never skipped.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { buildServices, type ServiceOptions, type Services } from '../../src/runtime.js';
import { openStore, type Store, type Tx } from '../../src/store/store.js';

export const testPostgresUrl =
  process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Backend {
  readonly name: 'pglite' | 'postgres';
  open(): Promise<Store & { drop(): Promise<void> }>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates an empty database on the test server and returns its URL and a function that drops it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bulkhead_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testPostgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(testPostgresUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: testPostgresUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

let image: Promise<Blob | undefined> | undefined;

/**
 * The migrated database the run's global setup left (test/setup/pglite-image.ts), read once per process;
 * undefined outside a test run, where a store starts empty.
 */
export function pgliteImage(): Promise<Blob | undefined> {
  const path = process.env['BULKHEAD_TEST_PGLITE_IMAGE'];
  image ??=
    path === undefined ? Promise.resolve(undefined) : readFile(path).then((bytes) => new Blob([bytes]));
  return image;
}

export const backends: readonly Backend[] = [
  {
    name: 'pglite',
    async open() {
      const from = await pgliteImage();
      const store = await openStore(
        from === undefined ? { kind: 'pglite' } : { kind: 'pglite', image: from },
      );
      return Object.assign(store, { drop: () => store.close() });
    },
  },
  {
    name: 'postgres',
    async open() {
      const database = await createTestDatabase();
      const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 5 });
      return Object.assign(store, {
        async drop() {
          await store.close();
          await database.drop();
        },
      });
    },
  },
];

export const testSecret = Buffer.alloc(32, 7);

/** Services on a fresh store; no providers unless `options` brings some, no slug quarantine unless asked. */
export async function openTestServices(
  backend: Backend,
  options: Partial<ServiceOptions> = {},
): Promise<Services & { drop(): Promise<void> }> {
  const store = await backend.open();
  const services = buildServices(store, testSecret, {
    providers: new Map(),
    slugQuarantineMs: 0,
    ...options,
  });
  return Object.assign(services, {
    async drop() {
      await services.provisioner.stop();
      await services.compute.stop();
      await Promise.allSettled([...(options.providers?.values() ?? [])].map((p) => p.close()));
      await store.drop();
    },
  });
}

/**
 * Runs `fn` as the store's owner, outside row-level security, for tests that inspect or tamper with
 * rows directly. The server itself never does this: it runs as the application role.
 */
export function asOwner<T>(store: Store, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return store.system('operator', async (tx) => {
    await sql`SET LOCAL ROLE NONE`.execute(tx);
    return fn(tx);
  });
}

/** Resolves once a session of `client`'s database waits for a lock; throws `failure` after 10 s. */
export async function untilSomeoneWaitsForALock(client: pg.Client, failure: string): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n > 0) return;
    if (waited > 10_000) throw new Error(failure);
    await new Promise((r) => setTimeout(r, 20));
  }
}
