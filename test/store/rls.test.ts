// Below the API: the database itself keeps domains apart. These tests talk to the store as the server
// does (the application role), and on PostgreSQL also as a bare connection of that role, and show that
// a missing or wrong domain context reveals and changes nothing of another domain.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, listAudit, verifyAudit } from '../../src/audit/log.js';
import type { AuditEventInput } from '../../src/audit/events.js';
import type { Actor } from '../../src/policy/principal.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { appRole, domainTables, systemRole } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { enterScope, sealScope } from '../../src/store/scope.js';
import { openStore, type Store, type Tx } from '../../src/store/store.js';
import { asOwner, createTestDatabase, testPostgresUrl, testSecret } from '../helpers/backends.js';
import { startPasswordPostgres, type TrustingPostgres } from '../helpers/trusting-postgres.js';

const actor: Actor = { actor: 'operator', requestId: null };
const event: Omit<AuditEventInput, 'domainId'> = {
  ...actor,
  action: 'key.issue',
  target: null,
  outcome: 'success',
  detail: {},
};

interface Setup {
  readonly name: string;
  readonly open: () => Promise<{ store: Store; url: string | null; drop(): Promise<void> }>;
}

const setups: Setup[] = [
  {
    name: 'pglite',
    async open() {
      const store = await openStore({ kind: 'pglite' });
      return { store, url: null, drop: () => store.close() };
    },
  },
  {
    name: 'postgres',
    async open() {
      const database = await createTestDatabase();
      // One connection, so that every transaction runs on the same pooled connection as the one before.
      const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 1 });
      return {
        store,
        url: database.url,
        async drop() {
          await store.close();
          await database.drop();
        },
      };
    },
  },
];

/** A transaction of the application role with neither a domain nor the system context set. */
function unscoped<T>(store: Store, fn: (tx: Tx) => Promise<T>): Promise<T> {
  // The application role with no domain set.
  return store.system('operator', async (tx) => {
    await sql.raw(`SET LOCAL ROLE ${appRole}; SELECT set_config('bulkhead.domain_id', '', true)`).execute(tx);
    return fn(tx);
  });
}

const rlsViolation = /row-level security|row level security/i;

describe.each(setups)('row-level security on $name', (setup) => {
  let store: Store;
  let url: string | null;
  let opened: { drop(): Promise<void> };
  let services: Services;
  let a: { id: string };
  let b: { id: string };

  beforeAll(async () => {
    const o = await setup.open();
    opened = o;
    store = o.store;
    url = o.url;
    services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
    a = await services.domains.create(actor, { slug: 'rls-a', name: 'A' });
    b = await services.domains.create(actor, { slug: 'rls-b', name: 'B' });
    await services.keys.issue(actor, a.id, { name: 'a' });
    await services.keys.issue(actor, b.id, { name: 'b' });
    for (const d of [a, b]) {
      await services.principals.create(actor, d.id, {
        kind: 'user',
        email: 'same@example.com',
        password: 'correct horse battery staple',
      });
      await services.signingKeys.ensure(d.id);
    }
  });

  afterAll(async () => {
    await services.provisioner.stop();
    await opened.drop();
  });

  it('runs as a role that owns nothing and cannot bypass row-level security', async () => {
    const who = await unscoped(store, (tx) =>
      sql<{ current_user: string; bypass: boolean; superuser: boolean }>`
        SELECT current_user, r.rolbypassrls AS bypass, r.rolsuper AS superuser
        FROM pg_roles r WHERE r.rolname = current_user`.execute(tx),
    );
    expect(who.rows[0]).toEqual({ current_user: appRole, bypass: false, superuser: false });
    // The system context is a role of its own, no wider; the application role does not inherit it, so
    // the system role's policies never apply to a domain's transaction.
    const roles = await store.system('operator', (tx) =>
      sql<{
        rolname: string;
        rolinherit: boolean;
        rolbypassrls: boolean;
        rolsuper: boolean;
        current: boolean;
      }>`
        SELECT rolname, rolinherit, rolbypassrls, rolsuper, rolname = current_user AS current
        FROM pg_roles WHERE rolname IN (${appRole}, ${systemRole}) ORDER BY rolname`.execute(tx),
    );
    expect(roles.rows).toEqual([
      { rolname: appRole, rolinherit: false, rolbypassrls: false, rolsuper: false, current: false },
      { rolname: systemRole, rolinherit: false, rolbypassrls: false, rolsuper: false, current: true },
    ]);
    // Nor is it a member of the system role (migration 0017), so it may not switch to it either.
    const member = await store.system('operator', (tx) =>
      sql<{ member: boolean }>`SELECT pg_has_role(${appRole}, ${systemRole}, 'MEMBER') AS member`.execute(tx),
    );
    expect(member.rows[0]!.member).toBe(false);
    const owned = await unscoped(store, (tx) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE tableowner = current_user`.execute(
        tx,
      ),
    );
    expect(owned.rows[0]!.n).toBe(0);
  });

  it('has row-level security enabled and forced on every table with a domain column', async () => {
    const tables = await asOwner(store, (tx) =>
      sql<{ table_name: string; rls: boolean; forced: boolean }>`
        SELECT c.table_name, k.relrowsecurity AS rls, k.relforcerowsecurity AS forced
        FROM information_schema.columns c
        JOIN pg_class k ON k.relname = c.table_name AND k.relkind = 'r'
        JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema
        WHERE c.table_schema = 'public' AND c.column_name = 'domain_id'
        ORDER BY 1`.execute(tx),
    );
    expect(tables.rows.length).toBeGreaterThan(8);
    for (const t of tables.rows) expect(t, t.table_name).toMatchObject({ rls: true, forced: true });
    for (const table of Object.keys(domainTables)) {
      const k = await asOwner(store, (tx) =>
        sql<{ rls: boolean; forced: boolean }>`
          SELECT relrowsecurity AS rls, relforcerowsecurity AS forced FROM pg_class
          WHERE relname = ${table} AND relkind = 'r'`.execute(tx),
      );
      expect(k.rows[0], table).toEqual({ rls: true, forced: true });
    }
  });

  it('shows no rows and accepts no insert when no domain is set', async () => {
    for (const table of Object.keys(domainTables)) {
      const rows = await unscoped(store, (tx) => sql`SELECT * FROM ${sql.table(table)}`.execute(tx));
      expect(rows.rows, table).toEqual([]);
    }
    expect(await unscoped(store, (tx) => listAudit(tx, { limit: 1000 }))).toEqual([]);
    await expect(
      unscoped(store, (tx) =>
        tx.insertInto('pools').values({ domain_id: a.id, quotas: '{}', updated_at: new Date() }).execute(),
      ),
    ).rejects.toThrow(rlsViolation);
  });

  it("with domain A set, shows only A's rows and can neither change nor remove B's", async () => {
    await store.withDomain(a.id, async (tx) => {
      for (const [table, column] of Object.entries(domainTables)) {
        const rows = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)}`.execute(tx);
        for (const row of rows.rows) expect(row[column], table).toBe(a.id);
      }
      const domains = await tx.selectFrom('domains').select('id').execute();
      expect(domains.map((d) => d.id)).toEqual([a.id]);
      // Naming B outright finds nothing, changes nothing, removes nothing.
      expect(await tx.selectFrom('principals').selectAll().where('domain_id', '=', b.id).execute()).toEqual(
        [],
      );
      const updated = await tx
        .updateTable('provisioning_keys')
        .set({ revoked_at: new Date() })
        .where('domain_id', '=', b.id)
        .executeTakeFirst();
      expect(Number(updated.numUpdatedRows)).toBe(0);
      const deleted = await tx.deleteFrom('signing_keys').where('domain_id', '=', b.id).executeTakeFirst();
      expect(Number(deleted.numDeletedRows)).toBe(0);
      const suspended = await tx
        .updateTable('domains')
        .set({ status: 'suspended' })
        .where('id', '=', b.id)
        .executeTakeFirst();
      expect(Number(suspended.numUpdatedRows)).toBe(0);
    });
    // Moving A's row into B is refused by the policy's check, not silently done.
    await expect(
      store.withDomain(a.id, (tx) =>
        tx.updateTable('pools').set({ domain_id: b.id }).where('domain_id', '=', a.id).execute(),
      ),
    ).rejects.toThrow(rlsViolation);
    await expect(
      store.withDomain(a.id, (tx) =>
        tx
          .insertInto('revocations')
          .values({ kind: 'session', target: 'ses_x', domain_id: b.id, at: new Date() })
          .execute(),
      ),
    ).rejects.toThrow(rlsViolation);
    const bKeys = await services.keys.list(b.id);
    expect(bKeys.map((k) => k.revokedAt)).toEqual([null]);
    expect((await services.domains.get(b.id)).status).toBe('active');
    expect((await services.signingKeys.list(b.id)).length).toBe(2);
  });

  /** Every row of B's that a transaction can see, table by table (empty when it sees none). */
  const seenOfB = async (tx: Tx) => {
    const seen: string[] = [];
    for (const [table, column] of Object.entries(domainTables)) {
      const rows = await sql<{ d: string }>`SELECT ${sql.ref(column)} AS d FROM ${sql.table(table)}`.execute(
        tx,
      );
      if (rows.rows.some((r) => r.d === b.id)) seen.push(table);
    }
    return seen;
  };
  /** As SQL injected into A's transaction would: name B in the setting, then read and change B's rows. */
  const forged = async (forge: (tx: Tx) => Promise<unknown>) =>
    store.withDomain(a.id, async (tx) => {
      await forge(tx);
      const seen = await seenOfB(tx);
      const revoked = await tx
        .updateTable('provisioning_keys')
        .set({ revoked_at: new Date() })
        .where('domain_id', '=', b.id)
        .executeTakeFirst();
      const suspended = await tx
        .updateTable('domains')
        .set({ status: 'suspended' })
        .where('id', '=', b.id)
        .executeTakeFirst();
      const removed = await tx.deleteFrom('signing_keys').where('domain_id', '=', b.id).executeTakeFirst();
      const inserted = await tx
        .insertInto('revocations')
        .values({ kind: 'session', target: 'ses_forged', domain_id: b.id, at: new Date() })
        .execute()
        .then(
          () => 'inserted',
          (error: Error) => (rlsViolation.test(error.message) ? 'refused' : error.message),
        );
      // A failed insert aborts the transaction: whatever it did is rolled back, so it ends here.
      return {
        seen,
        changed: [revoked.numUpdatedRows, suspended.numUpdatedRows, removed.numDeletedRows].map(Number),
        inserted,
      };
    });
  const forgeries: [string, (tx: Tx) => Promise<unknown>][] = [
    ['SET LOCAL of the bare id', (tx) => sql.raw(`SET LOCAL bulkhead.domain_id = '${b.id}'`).execute(tx)],
    [
      'set_config of the bare id',
      (tx) => sql`SELECT set_config('bulkhead.domain_id', ${b.id}, true)`.execute(tx),
    ],
    [
      "A's own value with B's id in it",
      async (tx) => {
        const own = await sql<{ v: string }>`SELECT current_setting('bulkhead.domain_id') AS v`.execute(tx);
        const replayed = b.id + own.rows[0]!.v.slice(a.id.length);
        await sql`SELECT set_config('bulkhead.domain_id', ${replayed}, true)`.execute(tx);
      },
    ],
  ];

  it.each(forgeries)(
    "in A's transaction, a forged scope (%s) sees and changes nothing of B's",
    async (_name, forge) => {
      expect(await forged(forge)).toEqual({ seen: [], changed: [0, 0, 0], inserted: 'refused' });
      // Through a read and a change in one message too.
      const [, domains, principals] = await store.read(a.id, (db) => [
        db.selectNoFrom(sql<string>`set_config('bulkhead.domain_id', ${b.id}, true)`.as('forged')),
        db.selectFrom('domains').select('id'),
        db.selectFrom('principals').select('domain_id').where('domain_id', '=', b.id),
      ]);
      expect({ domains, principals }).toEqual({ domains: [], principals: [] });
      const [, suspended] = await store.change(a.id, (db) => [
        db.selectNoFrom(sql<string>`set_config('bulkhead.domain_id', ${b.id}, true)`.as('forged')),
        db.updateTable('domains').set({ status: 'suspended' }).where('id', '=', b.id).returning('id'),
      ]);
      expect(suspended).toEqual([]);
      // B is as it was.
      expect((await services.domains.get(b.id)).status).toBe('active');
      expect((await services.keys.list(b.id)).map((k) => k.revokedAt)).toEqual([null]);
      expect((await services.signingKeys.list(b.id)).length).toBe(2);
      // And A's own work goes on as before.
      const own = await store.withDomain(a.id, (tx) => tx.selectFrom('domains').select('id').execute());
      expect(own).toEqual([{ id: a.id }]);
    },
  );

  /** The scope key, which the system role alone may read. */
  const scopeKey = async () => {
    const key = await store.system('operator', (tx) =>
      sql<{ key: Uint8Array }>`SELECT key FROM scope_keys`.execute(tx),
    );
    return Buffer.from(key.rows[0]!.key);
  };

  it("enters B's scope only with a token signed for the very message that carries it", async () => {
    const key = await scopeKey();
    // A genuine token of B's, signed for another message (as one read off another connection would be).
    const message = sealScope(key, `SET LOCAL ROLE ${appRole}; ${enterScope(b.id)}; SELECT id FROM domains`);
    const token = /scope_open\('([^']+)'\)/.exec(message)![1]!;
    expect(token.startsWith(`${b.id}.`)).toBe(true);
    const other = sealScope(randomBytes(32), enterScope(b.id));
    for (const statement of [
      `SELECT public.scope_enter('${token}')`,
      `CALL public.scope_open('${token}')`,
      other,
      enterScope(b.id),
    ]) {
      await expect(
        store.withDomain(a.id, (tx) => sql.raw(statement).execute(tx)),
        statement,
      ).rejects.toThrow(/not signed for this message/);
    }
    // The same check lets in a token signed, with the key, for the statement itself: it is the key that
    // keeps B closed, and the key the application role cannot read.
    const seen = await store.withDomain(a.id, async (tx) => {
      await sql.raw(sealScope(key, enterScope(b.id))).execute(tx);
      return seenOfB(tx);
    });
    expect(seen).toContain('domains');
    await expect(store.withDomain(a.id, (tx) => sql`SELECT key FROM scope_keys`.execute(tx))).rejects.toThrow(
      /permission denied/,
    );
    // Nor through the function whose result the scope's functions keep in their plans (migration 0021).
    await expect(store.withDomain(a.id, (tx) => sql`SELECT public.scope_key()`.execute(tx))).rejects.toThrow(
      /permission denied/,
    );
    await expect(
      store.read(a.id, (db) => [db.selectFrom(sql.table('scope_keys').as('k')).selectAll()]),
    ).rejects.toThrow(/permission denied/);
  });

  it('never lets a domain or system setting outlive the statement that set it into the next transaction', async () => {
    // Session-level settings, as a stray statement might leave them on a pooled connection.
    await store.withDomain(a.id, (tx) =>
      sql`SELECT set_config('bulkhead.domain_id', ${b.id}, false), set_config('bulkhead.system', 'on', false)`.execute(
        tx,
      ),
    );
    await store.withDomain(a.id, async (tx) => {
      const seen = await tx.selectFrom('domains').select('id').execute();
      expect(seen.map((d) => d.id)).toEqual([a.id]);
    });
    // A session-level switch to the system role is undone by the next transaction's own SET LOCAL ROLE.
    await store.withDomain(a.id, (tx) => sql.raw(`SET ROLE ${systemRole}`).execute(tx));
    await store.withDomain(a.id, async (tx) => {
      const seen = await tx.selectFrom('domains').select('id').execute();
      expect(seen.map((d) => d.id)).toEqual([a.id]);
    });
    // The old system flag opens nothing to the application role.
    await store.withDomain(a.id, async (tx) => {
      await sql`SELECT set_config('bulkhead.system', 'on', true)`.execute(tx);
      const seen = await tx.selectFrom('domains').select('id').execute();
      expect(seen.map((d) => d.id)).toEqual([a.id]);
    });
    await store.withDomain(a.id, (tx) => sql`SET bulkhead.domain_id = ${sql.lit(b.id)}`.execute(tx));
    expect(await unscoped(store, (tx) => tx.selectFrom('domains').select('id').execute())).toEqual([]);
    // A transaction-local setting ends with its transaction, even when the transaction fails.
    await expect(
      store.withDomain(a.id, async (tx) => {
        await sql`SELECT set_config('bulkhead.system', 'on', true)`.execute(tx);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await store.withDomain(a.id, async (tx) => {
      expect(
        (await tx.selectFrom('principals').select('domain_id').execute()).map((p) => p.domain_id),
      ).toEqual([a.id]);
    });
  });

  it("reads in one message: A's rows only, whatever the query names, and nothing left on the connection", async () => {
    const [own, foreign, domains] = await store.read(a.id, (db) => [
      db.selectFrom('principals').select(['id', 'domain_id']).where('domain_id', '=', a.id),
      db.selectFrom('principals').selectAll().where('domain_id', '=', b.id),
      db.selectFrom('domains').select('id'),
    ]);
    expect(own.map((p) => p.domain_id)).toEqual([a.id]);
    expect(foreign).toEqual([]);
    expect(domains).toEqual([{ id: a.id }]);
    for (const [table, column] of Object.entries(domainTables)) {
      const [rows] = await store.read(a.id, (db) => [
        db.selectFrom(sql.table(table).as('t')).select(sql<string>`t.${sql.ref(column)}`.as('d')),
      ]);
      for (const row of rows) expect(row.d, table).toBe(a.id);
    }
    // The pooled connection (one, on PostgreSQL) carries neither the domain nor the role onward.
    expect(await unscoped(store, (tx) => tx.selectFrom('domains').select('id').execute())).toEqual([]);
    const after = await store.system('operator', (tx) =>
      sql<{ d: string | null }>`SELECT current_setting('bulkhead.domain_id', true) AS d`.execute(tx),
    );
    expect(after.rows[0]!.d ?? '').toBe('');
  });

  it('reads values exactly as parameters would carry them, and runs nothing but SELECT', async () => {
    const hostile = [
      "'; DELETE FROM domains; --",
      "a''b",
      'back\\slash \\x27',
      '$1 $$ $tag$ ?',
      'é 😀 \u2028',
      '',
    ];
    for (const text of hostile) {
      const [rows] = await store.read(a.id, (db) => [
        db.selectNoFrom([
          sql<string>`${text}::text`.as('text'),
          sql<number>`${-42}::int`.as('n'),
          sql<boolean>`${true}::boolean`.as('yes'),
          sql<string | null>`${null}::text`.as('nothing'),
          sql<Date>`${new Date('2026-01-02T03:04:05.678Z')}::timestamptz`.as('at'),
        ]),
      ]);
      expect(rows).toEqual([
        { text, n: -42, yes: true, nothing: null, at: new Date('2026-01-02T03:04:05.678Z') },
      ]);
    }
    expect((await services.domains.get(b.id)).status).toBe('active');
    await expect(
      store.read(a.id, (db) => [db.deleteFrom('principals').where('domain_id', '=', b.id)] as never),
    ).rejects.toThrow(TypeError);
    // Nor a SELECT whose WITH query changes rows, in either context.
    const deleting = (db: Kysely<Database>) =>
      db
        .with('gone', (w) => w.deleteFrom('principals').where('domain_id', '=', a.id).returning('id'))
        .selectFrom('gone')
        .selectAll();
    await expect(store.read(a.id, (db) => [deleting(db)])).rejects.toThrow(TypeError);
    await expect(store.systemRead('operator', (db) => [deleting(db)])).rejects.toThrow(TypeError);
    const [stillThere] = await store.read(a.id, (db) => [db.selectFrom('principals').select('id')]);
    expect(stillThere).toHaveLength(1);
    // A failing statement fails the read and leaves the connection usable and unscoped.
    await expect(store.read(a.id, (db) => [db.selectNoFrom(sql<number>`1 / 0`.as('x'))])).rejects.toThrow(
      /division by zero/,
    );
    const [again] = await store.read(a.id, (db) => [db.selectFrom('domains').select('id')]);
    expect(again).toEqual([{ id: a.id }]);
    for (const bad of ["dom_x' OR '1'='1", '', `${a.id};`]) {
      await expect(store.read(bad, (db) => [db.selectFrom('domains').select('id')])).rejects.toMatchObject({
        code: 'not_found',
      });
    }
  });

  it('prepares a read once per connection, and its cached plan keeps domains apart', async () => {
    const principalsOf = (scope: string, of: string) =>
      store.read(scope, (db) => [db.selectFrom('principals').selectAll().where('domain_id', '=', of)]);
    const [ownA] = await principalsOf(a.id, a.id);
    const [ownB] = await principalsOf(b.id, b.id);
    expect(ownA.map((p) => p.domain_id)).toEqual([a.id]);
    expect(ownB.map((p) => p.domain_id)).toEqual([b.id]);
    // The same statement, planned for one domain, asked by the other for the first one's rows; and
    // the same text in the system context, which sees both, in between.
    for (let i = 0; i < 8; i++) {
      expect((await principalsOf(a.id, b.id))[0]).toEqual([]);
      expect((await principalsOf(b.id, a.id))[0]).toEqual([]);
      const [bySystem] = await store.systemRead('operator', (db) => [
        db.selectFrom('principals').selectAll().where('domain_id', '=', b.id),
      ]);
      expect(bySystem.map((p) => p.domain_id)).toEqual([b.id]);
    }
    if (url === null) return; // the embedded store runs its reads in a transaction, nothing prepared
    const prepared = async () =>
      (
        await store.system('operator', (tx) =>
          sql<{
            n: number;
          }>`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'bh\\_%'`.execute(tx),
        )
      ).rows[0]!.n;
    // One connection: the statement was prepared once, whichever domain asked.
    const count = await prepared();
    expect(count).toBeGreaterThan(0);
    await principalsOf(b.id, b.id);
    expect(await prepared()).toBe(count);
    // A table changed under a prepared statement (a migration from another process): the read is
    // answered all the same, on a new connection, with the new shape.
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    try {
      await owner.query('ALTER TABLE principals ADD COLUMN later_column int');
      const [rows] = await principalsOf(a.id, a.id);
      expect(rows.map((p) => p.domain_id)).toEqual([a.id]);
      expect(rows[0]).toHaveProperty('later_column', null);
    } finally {
      await owner.query('ALTER TABLE principals DROP COLUMN IF EXISTS later_column');
      await owner.end();
    }
    const [rows] = await principalsOf(a.id, a.id);
    expect(rows[0]).not.toHaveProperty('later_column');
    // A parameter whose type only a literal settles (`$1 IS NULL` cannot be prepared, nor sent as a
    // parameter at all) still reads: written into the text.
    const [[settled]] = await store.read(a.id, (db) => [
      db.selectNoFrom(sql<boolean>`${'x'} IS NULL`.as('n')),
    ]);
    expect(settled).toEqual({ n: false });
    // A prepared statement gone from the session (as behind a pooler in transaction mode, which hands
    // each message to any server session): the read is answered, and nothing is prepared from then on.
    await principalsOf(b.id, b.id);
    expect(await prepared()).toBeGreaterThan(0);
    await store.system('operator', (tx) => sql`DEALLOCATE ALL`.execute(tx));
    const [again] = await principalsOf(b.id, b.id);
    expect(again.map((p) => p.domain_id)).toEqual([b.id]);
    await store.read(a.id, (db) => [db.selectFrom('volumes').select('id').where('domain_id', '=', a.id)]);
    expect(await prepared()).toBe(0);
  });

  it('refuses a malformed domain id before anything runs', async () => {
    for (const bad of ["dom_x' OR '1'='1", '', 'dom_', `${a.id};`, a.id.toUpperCase()]) {
      await expect(store.withDomain(bad, () => Promise.resolve(1))).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(
        store.change(bad, (db) => [db.selectFrom('domains').select('id')] as const),
      ).rejects.toMatchObject({ code: 'not_found' });
    }
  });

  it("changes in one message: A's rows only, all or nothing, audit events only when their condition holds", async () => {
    const names = (domainId: string) =>
      asOwner(store, (tx) =>
        tx.selectFrom('provisioning_keys').select('name').where('domain_id', '=', domainId).execute(),
      ).then((rows) => rows.map((r) => r.name));
    const before = { a: await names(a.id), b: await names(b.id) };
    const trail = () => asOwner(store, (tx) => listAudit(tx, { limit: 100_000 }));
    const eventsBefore = (await trail()).length;
    // Whatever the statements name, only A's rows are seen and changed.
    const [renamedB, renamedA, seen] = await store.change(a.id, (db) => [
      db
        .updateTable('provisioning_keys')
        .set({ name: 'taken' })
        .where('domain_id', '=', b.id)
        .returning('id'),
      db.updateTable('provisioning_keys').set({ name: 'a2' }).where('name', '=', 'a').returning('domain_id'),
      db.selectFrom('provisioning_keys').select('name'),
    ]);
    expect(renamedB).toEqual([]);
    expect(renamedA.map((r) => r.domain_id)).toEqual([a.id]);
    // A later statement sees what an earlier one wrote.
    expect(seen.map((r) => r.name)).toEqual(['a2']);
    expect(await names(b.id)).toEqual(before.b);
    // A statement that fails takes every other one, and the audit events, with it.
    await expect(
      store.change(a.id, async (db) => {
        await appendAudit(db, { ...event, domainId: a.id });
        return [
          db.updateTable('provisioning_keys').set({ name: 'lost' }).where('domain_id', '=', a.id),
          db.insertInto('domains').values({
            id: a.id,
            slug: 'dup',
            name: 'dup',
            status: 'active',
            created_at: new Date(),
            updated_at: new Date(),
          }),
        ] as const;
      }),
    ).rejects.toThrow();
    expect(await names(a.id)).toEqual(['a2']);
    expect((await trail()).length).toBe(eventsBefore);
    // An event whose condition is false is not appended; one whose condition holds is, and the chain holds.
    await store.change(a.id, async (db) => {
      await appendAudit(db, { ...event, domainId: a.id, target: 'no' }, { when: sql`false` });
      await appendAudit(
        db,
        { ...event, domainId: a.id, target: 'yes' },
        { when: sql`EXISTS (SELECT 1 FROM provisioning_keys WHERE name = 'a')` },
      );
      return [db.updateTable('provisioning_keys').set({ name: 'a' }).where('name', '=', 'a2')] as const;
    });
    const after = await trail();
    expect(after.slice(eventsBefore).map((e) => e.target)).toEqual(['yes']);
    expect(await asOwner(store, (tx) => verifyAudit(tx))).toMatchObject({ ok: true });
    expect(await names(a.id)).toEqual(before.a);
    // Nothing of the scope stays on the pooled connection.
    expect(await unscoped(store, (tx) => tx.selectFrom('domains').select('id').execute())).toEqual([]);
  });

  it("reaches its own domain's audit head only, and the head of the events of no domain not at all", async () => {
    await store.withDomain(a.id, (tx) => appendAudit(tx, { ...event, domainId: a.id }));
    await store.withDomain(b.id, (tx) => appendAudit(tx, { ...event, domainId: b.id }));
    await store.system('operator', (tx) => appendAudit(tx, { ...event, domainId: null }));
    const seen = await store.withDomain(a.id, (tx) =>
      tx.selectFrom('audit_heads').select(['chain', 'domain_id']).execute(),
    );
    expect(seen).toEqual([{ chain: a.id, domain_id: a.id }]);
    const before = await asOwner(store, (tx) =>
      tx.selectFrom('audit_heads').selectAll().orderBy('chain').execute(),
    );
    expect(before.map((h) => h.chain)).toEqual(expect.arrayContaining([a.id, b.id, 'system']));
    // Another domain's head and the system chain's are out of reach: not changed, not made anew.
    const moved = await store.withDomain(a.id, (tx) =>
      sql`UPDATE audit_heads SET hash = ${'0'.repeat(64)} WHERE chain <> ${a.id}`.execute(tx),
    );
    expect(Number(moved.numAffectedRows ?? 0)).toBe(0);
    await expect(
      store.withDomain(a.id, (tx) =>
        sql`INSERT INTO audit_heads (chain, domain_id, seq, hash) VALUES ('system', NULL, 0, ${'0'.repeat(64)})
            ON CONFLICT DO NOTHING`.execute(tx),
      ),
    ).rejects.toThrow(rlsViolation);
    await expect(
      store.withDomain(a.id, (tx) => sql`DELETE FROM audit_heads WHERE chain = ${a.id}`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
    expect(
      await asOwner(store, (tx) => tx.selectFrom('audit_heads').selectAll().orderBy('chain').execute()),
    ).toEqual(before);
    expect(await asOwner(store, verifyAudit)).toMatchObject({ ok: true });
  });

  it('keeps the audit log append-only for the application role', async () => {
    await expect(
      store.system('audit', (tx) => sql`UPDATE audit_events SET outcome = 'denied'`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
    await expect(store.system('audit', (tx) => sql`DELETE FROM audit_events`.execute(tx))).rejects.toThrow(
      /permission denied/,
    );
  });

  it('as a bare connection of the application role (PostgreSQL), sees nothing without a domain', async () => {
    if (url === null) return; // PGlite has no second connection; the same checks ran above through the store
    const client = new pg.Client({ connectionString: url, options: `-c role=${appRole}` });
    await client.connect();
    try {
      const who = await client.query<{ current_user: string }>('SELECT current_user');
      expect(who.rows[0]!.current_user).toBe(appRole);
      for (const table of Object.keys(domainTables)) {
        expect((await client.query(`SELECT * FROM ${table}`)).rows, table).toEqual([]);
      }
      await expect(
        client.query(`INSERT INTO pools (domain_id, quotas, updated_at) VALUES ($1, '{}', now())`, [b.id]),
      ).rejects.toThrow(rlsViolation);
      // The bare id opens nothing: only the value signed with the scope key does.
      await client.query('BEGIN');
      await client.query(`SELECT set_config('bulkhead.domain_id', $1, true)`, [a.id]);
      expect((await client.query('SELECT id FROM domains')).rows).toEqual([]);
      await client.query('ROLLBACK');
      const owner = new pg.Client({ connectionString: url });
      await owner.connect();
      const key = await owner.query<{ key: Buffer }>('SELECT key FROM scope_keys').finally(() => owner.end());
      await client.query(sealScope(key.rows[0]!.key, `BEGIN; ${enterScope(a.id)}`));
      const visible = await client.query('SELECT id FROM domains');
      await client.query('COMMIT');
      expect(visible.rows).toEqual([{ id: a.id }]);
      // The setting was local to that transaction.
      expect((await client.query('SELECT id FROM domains')).rows).toEqual([]);
    } finally {
      await client.end();
    }
  });
});

describe('scoped transactions in the types', () => {
  it('accept no bare database handle', () => {
    const bare = {} as Kysely<Database>;
    // @ts-expect-error a Kysely instance is not a scoped transaction: repositories cannot take it
    const call = () => listAudit(bare, {});
    expect(typeof call).toBe('function');
  });
});

describe('a server whose application and system contexts log in separately (PostgreSQL)', () => {
  // A server of the test's own: the roles are shared by every database of a PostgreSQL server, and this
  // suite puts the old arrangement (the application role a member of the system role) back for a while.
  let server: TrustingPostgres;
  let ownerUrl: string;
  let a: { id: string };
  let b: { id: string };
  const suffix = randomBytes(4).toString('hex');
  const appLogin = `bulkhead_server_${suffix}`;
  const systemLogin = `bulkhead_server_system_${suffix}`;
  const wideLogin = `bulkhead_server_wide_${suffix}`;
  const password = randomBytes(16).toString('hex');
  const as = (login: string) => {
    const u = new URL(ownerUrl);
    u.username = login;
    u.password = password;
    return u.toString();
  };
  const owner = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: ownerUrl });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  const separated = () =>
    openStore({ kind: 'postgres', url: as(appLogin), systemUrl: as(systemLogin), poolSize: 2 });
  /** As SQL injected into a domain's transaction would: step out of the role, then look for B. */
  const escapes = async (store: Store, step: string) =>
    store.withDomain(a.id, async (tx) => {
      await sql.raw(step).execute(tx);
      return tx.selectFrom('domains').select('id').where('id', '=', b.id).execute();
    });

  beforeAll(async () => {
    server = await startPasswordPostgres();
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE bulkhead_separated');
      const u = new URL(server.url);
      u.pathname = '/bulkhead_separated';
      ownerUrl = u.toString();
      // Migrated by the owner, as `bulkhead migrate` does before the servers start.
      const store = await openStore({ kind: 'postgres', url: ownerUrl });
      const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
      a = await services.domains.create(actor, { slug: 'member-a', name: 'A' });
      b = await services.domains.create(actor, { slug: 'member-b', name: 'B' });
      await store.close();
      await admin.query(`CREATE ROLE ${appLogin} LOGIN PASSWORD '${password}' IN ROLE ${appRole}`);
      await admin.query(`CREATE ROLE ${systemLogin} LOGIN PASSWORD '${password}' IN ROLE ${systemRole}`);
      await admin.query(
        `CREATE ROLE ${wideLogin} LOGIN PASSWORD '${password}' IN ROLE ${appRole}, ${systemRole}`,
      );
    } finally {
      await admin.end();
    }
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('starts, works in its scope and in the system context, and SQL injected into a domain cannot step outside it', async () => {
    const store = await separated();
    try {
      const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
      const seen = await store.withDomain(a.id, (tx) => tx.selectFrom('domains').select('id').execute());
      expect(seen).toEqual([{ id: a.id }]);
      // The system context works, on its own login, as the system role.
      const listed = await services.domains.list({ limit: 10 });
      expect(listed.map((d) => d.id).sort()).toEqual([a.id, b.id].sort());
      const who = await store.system('operator', (tx) =>
        sql<{ login: string; role: string }>`SELECT session_user AS login, current_user AS role`.execute(tx),
      );
      expect(who.rows[0]).toEqual({ login: systemLogin, role: systemRole });
      const [[read]] = await store.systemRead('operator', (db) => [
        db.selectNoFrom(sql<string>`session_user`.as('login')),
      ]);
      expect(read).toEqual({ login: systemLogin });
      // A domain's transaction runs on the application login, which may enter no other role.
      const tenant = await store.withDomain(a.id, (tx) =>
        sql<{ login: string; role: string }>`SELECT session_user AS login, current_user AS role`.execute(tx),
      );
      expect(tenant.rows[0]).toEqual({ login: appLogin, role: appRole });
      for (const step of [
        `SET LOCAL ROLE ${systemRole}`,
        `SET ROLE ${systemRole}`,
        'SET LOCAL ROLE postgres',
      ]) {
        await expect(escapes(store, step), step).rejects.toThrow(/permission denied to set role/);
      }
      for (const step of ['SET LOCAL ROLE NONE', 'SET ROLE NONE', 'RESET ROLE']) {
        expect(await escapes(store, step), step).toEqual([]);
      }
      await expect(
        store.withDomain(a.id, (tx) => sql`UPDATE bulkhead_migrations SET name = name`.execute(tx)),
      ).rejects.toThrow(/permission denied/);
      // Nor through a read in one message, which runs on the same pool.
      await expect(
        store.read(a.id, (db) => [
          db.selectNoFrom(sql<string>`set_config('role', ${systemRole}, true)`.as('r')),
          db.selectFrom('domains').select('id'),
        ]),
      ).rejects.toThrow(/permission denied to set role/);
    } finally {
      await store.close();
    }
  });

  it("finds B's tokens on other connections, as the application login may, and can enter B with none of them", async () => {
    const store = await separated();
    try {
      // Two connections: each has last served B (a read in one message, a transaction).
      await Promise.all([
        store.read(b.id, (db) => [
          db.selectFrom('domains').select('id'),
          db.selectNoFrom(sql`pg_sleep(0.2)`.as('s')),
        ]),
        store.withDomain(b.id, (tx) => sql`SELECT pg_sleep(0.2)`.execute(tx)),
      ]);
      await store.read(b.id, (db) => [db.selectFrom('domains').select('id')]);
      // Injected SQL steps back to the login, whose sessions' last messages pg_stat_activity shows it.
      const tokenPattern = String.raw`scope_open\('(${b.id}\.[0-9a-f]{64})'\)`;
      const harvest = (tx: Tx) =>
        sql<{ token: string }>`
          SELECT substring(query FROM ${tokenPattern}) AS token
          FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE ${`%${b.id}%`}`.execute(tx);
      const tokens = await store.withDomain(a.id, async (tx) => {
        await sql.raw('SET LOCAL ROLE NONE').execute(tx);
        return (await harvest(tx)).rows.map((r) => r.token);
      });
      expect(tokens.length).toBeGreaterThan(0);
      for (const token of tokens) expect(token).toMatch(new RegExp(`^${b.id}\\.[0-9a-f]{64}$`));
      for (const token of tokens) {
        for (const entry of [
          sql`SELECT public.scope_enter(${token})`,
          sql`CALL public.scope_open(${token})`,
        ]) {
          await expect(
            store.withDomain(a.id, async (tx) => {
              await entry.execute(tx);
              return tx.selectFrom('domains').select('id').where('id', '=', b.id).execute();
            }),
          ).rejects.toThrow(/not signed for this message/);
        }
        // Nor as the setting itself, nor in one message with the harvest.
        const seen = await store.withDomain(a.id, async (tx) => {
          await sql`SELECT set_config('bulkhead.domain_id', ${token}, true)`.execute(tx);
          return tx.selectFrom('domains').select('id').where('id', '=', b.id).execute();
        });
        expect(seen).toEqual([]);
      }
      // Live, in one message: while B's read runs on the other connection, A's takes its token.
      const live = store.read(b.id, (db) => [db.selectNoFrom(sql`pg_sleep(1)`.as('s'))]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await expect(
        store.read(a.id, (db) => [
          db.selectNoFrom(sql<string>`set_config('role', 'none', true)`.as('r')),
          db.selectNoFrom(
            sql<null>`(SELECT public.scope_enter(substring(query FROM ${tokenPattern}))
                       FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE ${`%scope_open('${b.id}%`} LIMIT 1)`.as(
              'e',
            ),
          ),
          db.selectFrom('domains').select('id').where('id', '=', b.id),
        ]),
      ).rejects.toThrow(/not signed for this message/);
      await live;
      // The login reads no key either.
      await expect(
        store.withDomain(a.id, async (tx) => {
          await sql.raw('SET LOCAL ROLE NONE').execute(tx);
          return sql`SELECT key FROM scope_keys`.execute(tx);
        }),
      ).rejects.toThrow(/permission denied/);
      await expect(
        store.withDomain(a.id, async (tx) => {
          await sql.raw('SET LOCAL ROLE NONE').execute(tx);
          return sql`SELECT public.scope_key()`.execute(tx);
        }),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await store.close();
    }
  });

  it('refuses to start while the application role may touch the scope key or a policy reads the setting unverified', async () => {
    await owner((c) => c.query(`GRANT SELECT ON scope_keys TO ${appRole}`));
    try {
      await expect(separated()).rejects.toThrow(/bulkhead_app has a privilege on scope_keys/);
    } finally {
      await owner((c) => c.query(`REVOKE ALL ON scope_keys FROM ${appRole}`));
    }
    await owner((c) =>
      c.query(
        `CREATE POLICY unverified ON volumes TO ${appRole} USING (domain_id = current_setting('bulkhead.domain_id', true))`,
      ),
    );
    try {
      await expect(separated()).rejects.toThrow(/volumes\.unverified/);
    } finally {
      await owner((c) => c.query('DROP POLICY unverified ON volumes'));
    }
    await (await separated()).close();
  });

  it('refuses to start without a system login, or with an application login that could become more', async () => {
    // The earlier advice (serve as a member of the application role, nothing else) needs a system
    // login now: the application role can no longer reach the system context.
    await expect(openStore({ kind: 'postgres', url: as(appLogin) })).rejects.toThrow(
      new RegExp(
        `BULKHEAD_DATABASE_URL logs in as ${appLogin}, which is not a member of ${systemRole}.*BULKHEAD_DATABASE_SYSTEM_URL`,
      ),
    );
    // With a system login, the application login must be a member of the application role only.
    const refusals: [string, RegExp][] = [
      [
        as(wideLogin),
        new RegExp(`BULKHEAD_DATABASE_URL logs in as ${wideLogin}, which is a member of ${systemRole}`),
      ],
      [ownerUrl, /BULKHEAD_DATABASE_URL logs in as postgres, which is a superuser/],
      [
        as(systemLogin),
        // Its connections start as the application role, which it may not enter: refused at connect.
        new RegExp(`BULKHEAD_DATABASE_URL logs in as a role that is not a member of ${appRole}`),
      ],
    ];
    for (const [url, refusal] of refusals) {
      await expect(openStore({ kind: 'postgres', url, systemUrl: as(systemLogin) })).rejects.toThrow(refusal);
    }
    // And the system login must be a member of the system role.
    await expect(openStore({ kind: 'postgres', url: as(appLogin), systemUrl: as(appLogin) })).rejects.toThrow(
      /BULKHEAD_DATABASE_SYSTEM_URL logs in as a role that is not a member of bulkhead_system/,
    );
  });

  it('on the old arrangement (the application role a member of the system role), the same SQL reads across domains, and the store refuses it', async () => {
    await owner((c) => c.query(`GRANT ${systemRole} TO ${appRole}`));
    try {
      // A domain's transaction as the server sent it, then the injected switch: B's row is there.
      const client = new pg.Client({ connectionString: as(appLogin), options: `-c role=${appRole}` });
      await client.connect();
      try {
        const [, , , , rows] = (await client.query(
          `BEGIN; SET LOCAL ROLE ${appRole}; SET LOCAL bulkhead.domain_id = '${a.id}'; ` +
            `SET LOCAL ROLE ${systemRole}; SELECT id FROM domains WHERE id = '${b.id}'`,
        )) as unknown as pg.QueryResult[];
        expect(rows!.rows).toEqual([{ id: b.id }]);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
      // A server that cannot repair the roles refuses to start on them.
      await expect(separated()).rejects.toThrow(
        new RegExp(
          `The database role ${appRole} is a member of ${systemRole}.*REVOKE ${systemRole} FROM ${appRole}`,
        ),
      );
      // A start as the owner takes the membership away again; then the separated server starts.
      await (await openStore({ kind: 'postgres', url: ownerUrl })).close();
      const store = await separated();
      try {
        await expect(escapes(store, `SET LOCAL ROLE ${systemRole}`)).rejects.toThrow(/permission denied/);
      } finally {
        await store.close();
      }
    } finally {
      await owner((c) => c.query(`REVOKE ${systemRole} FROM ${appRole}`));
    }
  });
});

describe('a server that connects as an owner that is not a superuser (PostgreSQL)', () => {
  it('migrates, becomes a member of the application and system roles, and works in its scope', async () => {
    const database = await createTestDatabase();
    const owner = `bulkhead_owner_${Math.random().toString(36).slice(2, 10)}`;
    const admin = new pg.Client({ connectionString: testPostgresUrl });
    await admin.connect();
    try {
      // What the migrations need: to create roles, and to own the database's schema.
      const password = randomBytes(16).toString('hex');
      await admin.query(`CREATE ROLE ${owner} LOGIN CREATEROLE PASSWORD '${password}'`);
      const dbName = new URL(database.url).pathname.slice(1);
      await admin.query(`ALTER DATABASE ${dbName} OWNER TO ${owner}`);
      const onDb = new pg.Client({ connectionString: database.url });
      await onDb.connect();
      await onDb.query(`ALTER SCHEMA public OWNER TO ${owner}`);
      await onDb.end();
      const url = new URL(database.url);
      url.username = owner;
      url.password = password;
      const store = await openStore({ kind: 'postgres', url: url.toString() });
      try {
        const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
        const a = await services.domains.create(actor, { slug: 'owner-a', name: 'A' });
        await services.domains.create(actor, { slug: 'owner-b', name: 'B' });
        const seen = await store.withDomain(a.id, (tx) => tx.selectFrom('domains').select('id').execute());
        expect(seen).toEqual([{ id: a.id }]);
        const who = await store.withDomain(a.id, (tx) =>
          sql<{ current_user: string }>`SELECT current_user`.execute(tx),
        );
        expect(who.rows[0]!.current_user).toBe(appRole);
      } finally {
        await store.close();
      }
      const member = await admin.query<{ member: boolean }>(
        `SELECT pg_has_role($1, $2, 'MEMBER') AS member`,
        [owner, appRole],
      );
      expect(member.rows[0]!.member).toBe(true);
      // With no system login of its own, the owner reaches the system context itself (unseparated), and
      // the application role does not.
      const system = await admin.query<{ owner: boolean; app: boolean }>(
        `SELECT pg_has_role($1, $3, 'MEMBER') AS owner, pg_has_role($2, $3, 'MEMBER') AS app`,
        [owner, appRole, systemRole],
      );
      expect(system.rows[0]).toEqual({ owner: true, app: false });
    } finally {
      await database.drop();
      await admin.query(`DROP OWNED BY ${owner}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
      await admin.end();
    }
  });
});
