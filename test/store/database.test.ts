// Bulkhead's own database is closed to everyone but Bulkhead: a tenant's role that the PostgreSQL provider
// made on the same server cannot log in to it (so it can neither read there nor NOTIFY Bulkhead's
// channels), the server's roles cannot create temporary tables there, and a temporary table named like one
// of Bulkhead's, or a search path changed for the session, cannot stand in for the real table in the
// server's later transactions on the same connection (PostgreSQL and PGlite).
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { revocationNotifyChannel } from '../../src/identity/revocations.js';
import type { Actor } from '../../src/policy/principal.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import type { Provider } from '../../src/providers/provider.js';
import { buildServices } from '../../src/runtime.js';
import { appRole, systemRole } from '../../src/store/migrations.js';
import { openStore, type Store } from '../../src/store/store.js';
import { asOwner, createTestDatabase, testSecret } from '../helpers/backends.js';
import { psql, targetOf } from '../helpers/postgres-tenant.js';
import { startPasswordPostgres, type TrustingPostgres } from '../helpers/trusting-postgres.js';

const actor: Actor = { actor: 'operator', requestId: null };

describe('the store database on a server the PostgreSQL provider shares', () => {
  let server: TrustingPostgres;
  let database: { url: string };
  let databaseName: string;
  let provider: Provider;

  /** What PUBLIC and the server's roles may do in the store database, as the server's catalogs say. */
  async function privileges() {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<Record<string, boolean>>(
        `SELECT has_database_privilege('public', current_database(), 'CONNECT') AS public_connect,
                has_database_privilege('public', current_database(), 'TEMPORARY') AS public_temporary,
                has_database_privilege($1, current_database(), 'CONNECT') AS app_connect,
                has_database_privilege($1, current_database(), 'TEMPORARY') AS app_temporary,
                has_database_privilege($2, current_database(), 'CONNECT') AS system_connect`,
        [appRole, systemRole],
      );
      return rows[0]!;
    } finally {
      await admin.end();
    }
  }

  beforeAll(async () => {
    // A server of the test's own, which asks tenant roles for their password as the provider requires.
    server = await startPasswordPostgres();
    databaseName = 'bulkhead_store';
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${databaseName}`);
    } finally {
      await admin.end();
    }
    const url = new URL(server.url);
    url.pathname = `/${databaseName}`;
    database = { url: url.toString() };
    await (await openStore({ kind: 'postgres', url: database.url })).close();
    provider = await createPostgresProvider({ kind: 'server', adminUrl: server.url, mode: 'database' });
  }, 60_000);

  afterAll(async () => {
    await provider?.close();
    await server?.stop();
  });

  it("refuses a tenant's role at login: it can neither read there nor NOTIFY the servers' channels", async () => {
    const ref = { domainId: newId('domain'), resourceId: newId('resource') };
    const credentials = await provider.create(ref);
    // The role works in its own database…
    const own = await psql(targetOf(credentials), 'SELECT 1');
    expect(own.code, own.stderr).toBe(0);
    // …and is turned away at the store's door, before any statement runs.
    for (const statement of [`NOTIFY ${revocationNotifyChannel}`, 'SELECT count(*) FROM domains']) {
      const attempt = await psql(targetOf(credentials, databaseName), statement);
      expect(attempt.code, attempt.stdout).toBe(2);
      expect(attempt.stderr).toMatch(/permission denied for database/);
    }
  });

  it("keeps Bulkhead's own roles in, and closes the database again at the next start if it was opened", async () => {
    expect(await privileges()).toEqual({
      public_connect: false,
      public_temporary: false,
      app_connect: true,
      app_temporary: false,
      system_connect: true,
    });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await admin.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${databaseName} TO PUBLIC`);
    } finally {
      await admin.end();
    }
    expect(await privileges()).toMatchObject({ public_connect: true, public_temporary: true });
    await (await openStore({ kind: 'postgres', url: database.url })).close();
    expect(await privileges()).toMatchObject({ public_connect: false, public_temporary: false });
  });
});

describe.each(['pglite', 'postgres'] as const)("the server's transactions on %s", (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  let domainId: string;

  beforeAll(async () => {
    if (kind === 'pglite') {
      store = await openStore({ kind: 'pglite' });
      drop = () => store.close();
    } else {
      const database = await createTestDatabase();
      // One connection: whatever a transaction leaves on it, the next one meets.
      store = await openStore({ kind: 'postgres', url: database.url, poolSize: 1 });
      drop = async () => {
        await store.close();
        await database.drop();
      };
    }
    const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
    domainId = (await services.domains.create(actor, { slug: 'shadowed', name: 'real' })).id;
  });

  afterAll(async () => {
    await drop?.();
  });

  it('may not create temporary tables', async () => {
    await expect(
      store.withDomain(domainId, (tx) => sql`CREATE TEMP TABLE domains (id text)`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
    await expect(
      store.system('operator', (tx) => sql`CREATE TEMP TABLE domains (id text)`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
  });

  it('read the real table after injected SQL left a temporary one of the same name and a new search path', async () => {
    // Where the owner could not take TEMPORARY away from PUBLIC, injected SQL could make one.
    await asOwner(store, (tx) =>
      sql
        .raw(
          `DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO ${appRole}', current_database()); END $$`,
        )
        .execute(tx),
    );
    await store.withDomain(domainId, async (tx) => {
      await sql`CREATE TEMP TABLE domains AS SELECT * FROM public.domains`.execute(tx);
      await sql`UPDATE pg_temp.domains SET name = 'shadow'`.execute(tx);
      // For the session, so beyond this transaction.
      await sql`SET search_path = pg_temp, public`.execute(tx);
    });
    const name = (rows: readonly { name: string }[]) => rows.map((r) => r.name);
    expect(
      name(await store.withDomain(domainId, (tx) => tx.selectFrom('domains').select('name').execute())),
    ).toEqual(['real']);
    const [read] = await store.read(domainId, (db) => [db.selectFrom('domains').select('name')]);
    expect(name(read)).toEqual(['real']);
    const [system] = await store.systemRead('operator', (db) => [
      db.selectFrom('domains').select('name').where('id', '=', domainId),
    ]);
    expect(name(system)).toEqual(['real']);
    // The temporary table is there all the same: it is the path that leaves it out.
    const shadow = await store.withDomain(domainId, (tx) =>
      sql<{ name: string }>`SELECT name FROM pg_temp.domains`.execute(tx),
    );
    expect(name(shadow.rows)).toEqual(['shadow']);
  });
});
