// The PostgreSQL provider on the real test server, in both modes. Attacks run through the real `psql`
// binary with domain A's returned credentials and assert what must not happen: B's data unread and
// unchanged, B's statements unseen, nothing created where A has no business. A missing server fails.
// What every provider promises (create, rotate, delete ending sessions, idempotency, the probe both ways)
// is in contract.ts, run by postgres-contract.test.ts; here is what only PostgreSQL does.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import { verifiesScram } from '../../src/providers/postgres/postgres-password.js';
import { connectionUrl } from '../../src/providers/postgres/postgres-provider.js';
import {
  backendName,
  type Credentials,
  type Provider,
  type ResourceRef,
} from '../../src/providers/provider.js';
import { testPostgresUrl } from '../helpers/backends.js';
import { startTrustingPostgres, type TrustingPostgres } from '../helpers/trusting-postgres.js';
import {
  adminQuery,
  dropEverything,
  openPsqlSession,
  psql,
  targetOf,
  type PsqlResult,
} from '../helpers/postgres-tenant.js';
import { isProviderError } from '../../src/providers/provider.js';
import { bothWays } from './contract.js';

const hex = () => randomBytes(6).toString('hex');

/** A refusal by the server: psql failed, and said why with the expected SQLSTATE. */
function expectRefused(result: PsqlResult, sqlstate: string): void {
  expect(result.code, result.stdout).not.toBe(0);
  expect(result.stderr).toContain(`${sqlstate}:`);
}

/** A refused login: psql could not connect (exit 2), for the given reason. */
function expectNoConnection(result: PsqlResult, reason: RegExp): void {
  expect(result.code, result.stdout).toBe(2);
  expect(result.stderr).toMatch(reason);
}

describe('postgres provider options', () => {
  it('refuses bad options when the provider is built, with one code', async () => {
    const bad = [
      { kind: 'server', adminUrl: 'mysql://x', mode: 'database' },
      { kind: 'server', adminUrl: testPostgresUrl, mode: 'cluster' },
      { kind: 'server', adminUrl: testPostgresUrl, mode: 'schema', sharedDatabase: 'Robert"; DROP' },
      {
        kind: 'server',
        adminUrl: testPostgresUrl,
        mode: 'schema',
        sharedDatabase: `bh_${'a'.repeat(26)}_${'b'.repeat(26)}`,
      },
      { kind: 'server', adminUrl: testPostgresUrl, mode: 'database', connectionLimit: 0 },
      { kind: 'server', adminUrl: testPostgresUrl, mode: 'database', publicPort: 70_000 },
    ] as const;
    for (const options of bad) {
      const error: unknown = await createPostgresProvider(options as never).catch((e: unknown) => e);
      expect(
        isProviderError(error, 'invalid_options') && error.provider === 'postgres',
        JSON.stringify(options),
      ).toBe(true);
    }
  });

  it('percent-encodes every part of the URL it hands out', () => {
    const url = connectionUrl({ host: '::1', port: 6432, user: 'u@x', password: 'p/w:@?#', database: 'd b' });
    expect(url).toBe('postgres://u%40x:p%2Fw%3A%40%3F%23@[::1]:6432/d%20b');
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.password)).toBe('p/w:@?#');
    expect(connectionUrl({ host: '/run/pg', port: 5432, user: 'u', password: 'p', database: 'd' })).toBe(
      'postgres://u:p@%2Frun%2Fpg:5432/d',
    );
  });
});

describe.each(['database', 'schema'] as const)('postgres provider in %s mode', (mode) => {
  const sharedDatabase = `bulkhead_test_shared_${hex()}`;
  const created = new Set<string>();
  const foreign = {
    role: `bulkhead_test_role_${hex()}`,
    almost: `bh_${'x'.repeat(26)}_${hex()}`,
    object: `bh_notours_${hex()}`,
  };
  let provider: Provider;
  let a: ResourceRef;
  let b: ResourceRef;
  let credsA: Credentials;
  let credsB: Credentials;
  /** B's table, with one row B wrote. */
  const secretTable = `secret_${hex()}`;
  const secretValue = `B-SECRET-${hex()}`;

  const newRef = (): ResourceRef => {
    const ref = { domainId: newId('domain'), resourceId: newId('resource') };
    created.add(backendName(ref));
    return ref;
  };
  const asA = (sql: string, database?: string) => psql(targetOf(credsA, database), sql);
  const asB = (sql: string) => psql(targetOf(credsB), sql);
  /** B's table as A's SQL can name it: schema-qualified in schema mode, public in B's database otherwise. */
  const bTable = () =>
    mode === 'schema' ? `"${String(credsB['schema'])}".${secretTable}` : `public.${secretTable}`;
  const tenantDatabase = (creds: Credentials) => String(creds['database']);

  async function storedVerifier(role: string): Promise<string> {
    const rows = await adminQuery<{ rolpassword: string }>(
      'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
      [role],
    );
    return rows[0]!.rolpassword;
  }

  /** The password is refused at login, by the server itself. */
  async function expectPasswordRefused(
    creds: Credentials,
    password: string,
    reason = /password authentication failed/,
  ): Promise<void> {
    expectNoConnection(await psql({ ...targetOf(creds), password }, 'SELECT 1'), reason);
  }

  beforeAll(async () => {
    provider = await createPostgresProvider({
      kind: 'server',
      adminUrl: testPostgresUrl,
      mode,
      sharedDatabase,
    });
    a = newRef();
    b = newRef();
    [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
    const made = await asB(
      `CREATE TABLE ${secretTable} (v text); INSERT INTO ${secretTable} VALUES ('${secretValue}')`,
    );
    expect(made.code, made.stderr).toBe(0);
  });

  afterAll(async () => {
    // Whatever the tests did or failed to do: nothing made here outlives the suite.
    await provider?.close();
    await dropEverything(
      [...created, foreign.almost, foreign.role],
      mode === 'schema' ? sharedDatabase : undefined,
    );
    await adminQuery(`DROP DATABASE IF EXISTS "${foreign.object}"`);
  });

  /** B's table still holds exactly the row B wrote. */
  async function expectBUnchanged(): Promise<void> {
    const read = await asB(`SELECT v FROM ${secretTable}`);
    expect(read).toMatchObject({ code: 0, stdout: secretValue });
  }

  it('returns credentials A can use in its own database: create, insert, select', async () => {
    expect(Object.keys(credsA).sort()).toEqual(
      [
        'database',
        'host',
        'password',
        'port',
        'url',
        'user',
        ...(mode === 'schema' ? ['schema'] : []),
      ].sort(),
    );
    expect(credsA['user']).toBe(backendName(a));
    expect(credsA['database']).toBe(mode === 'schema' ? sharedDatabase : backendName(a));
    const own = await asA('CREATE TABLE mine (x int); INSERT INTO mine VALUES (7); SELECT x FROM mine');
    expect(own).toMatchObject({ code: 0, stdout: '7' });
    // The URL is the same credential: a client given only the URL gets the same database and schema.
    const client = new pg.Client({ connectionString: String(credsA['url']) });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; schema: string; x: number }>(
        'SELECT current_database() AS db, current_schema() AS schema, x FROM mine',
      );
      expect(rows).toEqual([
        { db: tenantDatabase(credsA), schema: mode === 'schema' ? backendName(a) : 'public', x: 7 },
      ]);
    } finally {
      await client.end();
    }
  });

  it('gives the role no power beyond its own objects, and sends the server no plain password', async () => {
    const [role] = await adminQuery<Record<string, unknown>>(
      `SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls, rolcanlogin, rolconnlimit
         FROM pg_roles WHERE rolname = $1`,
      [backendName(a)],
    );
    expect(role).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolinherit: false,
      rolreplication: false,
      rolbypassrls: false,
      rolcanlogin: true,
      rolconnlimit: 20,
    });
    const verifier = await storedVerifier(backendName(a));
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(await verifiesScram(String(credsA['password']), verifier)).toBe(true);
  });

  // Role names are made of ids, which are not secret: only B's password opens B's role. This needs a
  // server that asks tenant roles for their password (scram-sha-256 in pg_hba.conf; `.ci/run` sets that
  // up); on one that trusts the connection, this test fails.
  it("refuses A logging in as B's role with A's password, or with none", async () => {
    expect(credsA['password']).not.toBe(credsB['password']);
    await expectPasswordRefused(credsB, String(credsA['password']));
    // psql sends nothing when it has no password; the server must still ask for one.
    await expectPasswordRefused(credsB, '', /no password supplied/);
    await expectBUnchanged();
  });

  if (mode === 'database') {
    it("refuses A a connection to B's database", async () => {
      expectNoConnection(await asA('SELECT 1', tenantDatabase(credsB)), /permission denied for database/);
    });
  } else {
    it('gives A the shared database only through its own schema', async () => {
      expect(credsA['database']).toBe(credsB['database']);
      const seen = await asA(
        `SHOW search_path; SELECT has_schema_privilege('${String(credsB['schema'])}', 'USAGE')`,
      );
      expect(seen).toMatchObject({ code: 0, stdout: `${backendName(a)}\nf` });
    });
  }

  it("refuses A reading B's table", async () => {
    if (mode === 'database') {
      // The only way in is B's database, and A cannot connect to it; naming it from A's is refused too.
      expectNoConnection(
        await asA(`SELECT v FROM ${bTable()}`, tenantDatabase(credsB)),
        /permission denied for database/,
      );
      expectRefused(await asA(`SELECT v FROM "${tenantDatabase(credsB)}".${bTable()}`), '0A000');
      expectRefused(await asA(`SELECT v FROM ${bTable()}`), '42P01');
    } else {
      expectRefused(await asA(`SELECT v FROM ${bTable()}`), '42501');
      expectRefused(
        await asA(`SET search_path = "${String(credsB['schema'])}"; SELECT v FROM ${secretTable}`),
        '42P01',
      );
    }
  });

  it("refuses A writing B's table, and B's row stays as B wrote it", async () => {
    const statements = [
      `INSERT INTO ${bTable()} VALUES ('from A')`,
      `UPDATE ${bTable()} SET v = 'from A'`,
      `DELETE FROM ${bTable()}`,
      `TRUNCATE ${bTable()}`,
      `DROP TABLE ${bTable()}`,
      `ALTER TABLE ${bTable()} ADD COLUMN a int`,
    ];
    for (const sql of statements) {
      if (mode === 'database') {
        expectNoConnection(await asA(sql, tenantDatabase(credsB)), /permission denied for database/);
      } else {
        expectRefused(await asA(sql), '42501');
      }
    }
    await expectBUnchanged();
  });

  it("refuses A creating objects in B's schema and in public", async () => {
    if (mode === 'database') {
      const inB = (sql: string) => asA(sql, tenantDatabase(credsB));
      expectNoConnection(await inB('CREATE TABLE public.from_a (x int)'), /permission denied for database/);
      expectNoConnection(await inB('CREATE SCHEMA from_a'), /permission denied for database/);
      // A's own public schema is A's alone: owned by A, nothing granted to PUBLIC.
      const owner = await asA("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'public'");
      expect(owner.stdout).toBe(backendName(a));
    } else {
      expectRefused(await asA(`CREATE TABLE "${String(credsB['schema'])}".from_a (x int)`), '42501');
      expectRefused(await asA('CREATE TABLE public.from_a (x int)'), '42501');
      expectRefused(await asA('CREATE SCHEMA from_a'), '42501');
      expectRefused(await asA('CREATE TEMP TABLE from_a (x int)'), '42501');
      expectRefused(
        await asA(`CREATE FUNCTION public.from_a() RETURNS int LANGUAGE sql AS 'SELECT 1'`),
        '42501',
      );
    }
    for (const database of new Set([tenantDatabase(credsA), tenantDatabase(credsB)])) {
      const publicGrants = await adminQuery<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_namespace n, aclexplode(n.nspacl) acl
          WHERE n.nspname = 'public' AND acl.grantee = 0`,
        [],
        database,
      );
      expect(publicGrants, `PUBLIC privileges on public in ${database}`).toEqual([{ n: 0 }]);
    }
  });

  it("hides B's tables from A's catalogs where PostgreSQL allows it", async () => {
    const listed = await asA(
      `SELECT count(*) FROM information_schema.tables WHERE table_name = '${secretTable}';
       SELECT count(*) FROM information_schema.columns WHERE table_name = '${secretTable}'`,
    );
    expect(listed).toMatchObject({ code: 0, stdout: '0\n0' });
    const inPgClass = await asA(`SELECT count(*) FROM pg_class WHERE relname = '${secretTable}'`);
    // Database mode: B's catalog is another database's. Schema mode: pg_class is readable by every role
    // and shows the name; the provider accepts that (names lead to no data, as the tests above show).
    expect(inPgClass.stdout).toBe(mode === 'database' ? '0' : '1');
  });

  it("hides the text of B's running statement in pg_stat_activity", async () => {
    const marker = `bulkhead-marker-${hex()}`;
    const running = asB(`SELECT pg_sleep(2), '${marker}'`);
    let seen: string[] = [];
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      const listed = await asA(`SELECT query FROM pg_stat_activity WHERE usename = '${backendName(b)}'`);
      expect(listed.code, listed.stderr).toBe(0);
      seen = listed.stdout === '' ? [] : listed.stdout.split('\n');
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 30));
    }
    expect(seen.length).toBeGreaterThan(0);
    for (const query of seen) expect(query).toBe('<insufficient privilege>');
    const anywhere = await asA(
      `SELECT count(*) FROM pg_stat_activity WHERE strpos(query, 'bulkhead-' || 'marker-') > 0`,
    );
    expect(anywhere.stdout).toBe('0');
    expect((await running).code).toBe(0);
  });

  it("refuses SET ROLE to B's role, and ending B's sessions", async () => {
    expectRefused(await asA(`SET ROLE "${backendName(b)}"`), '42501');
    expectRefused(await asA(`SET SESSION AUTHORIZATION "${backendName(b)}"`), '42501');
    const bSession = await openPsqlSession(targetOf(credsB));
    try {
      const kill = (fn: string) =>
        asA(`SELECT ${fn}(pid) FROM pg_stat_activity WHERE usename = '${backendName(b)}'`);
      expectRefused(await kill('pg_terminate_backend'), '42501');
      expectRefused(await kill('pg_cancel_backend'), '42501');
      expect(await bSession.run('SELECT 2;')).toBe('2');
    } finally {
      bSession.close();
    }
  });

  it('keeps creating while a tenant holds a session on template1', async () => {
    // Every role may connect to template1, and CREATE DATABASE from it fails while anyone is connected.
    const camper = await openPsqlSession(targetOf(credsA, 'template1'));
    try {
      const c = newRef();
      const creds = await provider.create(c);
      expect(await psql(targetOf(creds), 'SELECT current_user')).toMatchObject({
        code: 0,
        stdout: backendName(c),
      });
    } finally {
      camper.close();
    }
  });

  it('inspects a resource without showing a secret', async () => {
    const found = await provider.inspect(a);
    expect(found.exists).toBe(true);
    expect(found.details).toMatchObject({ role: backendName(a), roleExists: true, canLogin: true });
    expect(JSON.stringify(found)).not.toContain(String(credsA['password']));
  });

  it("lists every resource's objects by their backend names, and nothing else", async () => {
    await adminQuery(`CREATE ROLE "${foreign.role}"`);
    await adminQuery(`CREATE ROLE "${foreign.almost}"`);
    if (mode === 'database') {
      await adminQuery(`CREATE DATABASE "${foreign.object}"`);
    } else {
      await adminQuery(`CREATE SCHEMA "${foreign.object}"`, [], sharedDatabase);
    }
    const owned = await provider.listOwned();
    expect(owned).toEqual(
      expect.arrayContaining([
        { ref: a, name: backendName(a) },
        { ref: b, name: backendName(b) },
      ]),
    );
    for (const o of owned) expect(o.name).toBe(backendName(o.ref));
    const names = owned.map((o) => o.name);
    for (const other of Object.values(foreign)) expect(names).not.toContain(other);
    expect(new Set(names).size).toBe(names.length);
  });

  it('probes A against B and B against A: every attempt refused, nothing left behind', async () => {
    for (const [x, y] of bothWays({ ref: a, credentials: credsA }, { ref: b, credentials: credsB })) {
      const report = await provider.probeIsolation(x, y);
      expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
      expect(report.refused).toBe(true);
      expect(report.attempts.length).toBeGreaterThanOrEqual(10);
      expect(report.attempts.map((t) => t.attempt)).toEqual(
        expect.arrayContaining([
          "read B's table",
          "write B's table",
          "become B's role with SET ROLE",
          "read B's statement in pg_stat_activity",
          "B's canary after all attempts",
        ]),
      );
    }
    const leftovers = await asB("SELECT count(*) FROM pg_class WHERE relname LIKE 'bulkhead_probe_%'");
    expect(leftovers.stdout).toBe('0');
    await expectBUnchanged();
  });

  it('probes honestly: when B opens its data to A, the probe says so', async () => {
    const [e, f] = [newRef(), newRef()];
    const [credsE, credsF] = await Promise.all([provider.create(e), provider.create(f)]);
    const schema = mode === 'schema' ? backendName(f) : 'public';
    const opened = await psql(
      targetOf(credsF),
      [
        ...(mode === 'database'
          ? [`GRANT CONNECT ON DATABASE "${backendName(f)}" TO "${backendName(e)}"`]
          : []),
        `GRANT USAGE ON SCHEMA "${schema}" TO "${backendName(e)}"`,
        `ALTER DEFAULT PRIVILEGES IN SCHEMA "${schema}" GRANT SELECT ON TABLES TO "${backendName(e)}"`,
      ].join('; '),
    );
    expect(opened.code, opened.stderr).toBe(0);
    const report = await provider.probeIsolation(
      { ref: e, credentials: credsE },
      { ref: f, credentials: credsF },
    );
    expect(report.refused).toBe(false);
    const breached = report.attempts.filter((t) => !t.refused).map((t) => t.attempt);
    expect(breached).toContain(mode === 'database' ? "connect to B's database" : "read B's table");
    // The grantee goes first: its privileges live in F's database, which must still be there to revoke them.
    await provider.delete(e);
    await provider.delete(f);
    expect(
      await adminQuery('SELECT FROM pg_roles WHERE rolname IN ($1, $2)', [backendName(e), backendName(f)]),
    ).toEqual([]);
  });
});

describe('postgres provider on a server that does not ask for passwords', () => {
  let trusting: TrustingPostgres;

  beforeAll(async () => {
    trusting = await startTrustingPostgres();
  }, 60_000);

  afterAll(async () => {
    await trusting?.stop();
  });

  const rolesOn = async (url: string, prefix: string): Promise<string[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
        [prefix],
      );
      return rows.map((r) => r.rolname);
    } finally {
      await client.end();
    }
  };

  it('hands out no credentials there: create and credentials fail with unsafe_server, nothing is made', async () => {
    for (const mode of ['database', 'schema'] as const) {
      const provider = await createPostgresProvider({ kind: 'server', adminUrl: trusting.url, mode });
      try {
        const ref = { domainId: newId('domain'), resourceId: newId('resource') };
        const created = await provider.create(ref).catch((e: unknown) => e);
        expect(
          isProviderError(created, 'unsafe_server') && created.provider === 'postgres',
          String(created),
        ).toBe(true);
        expect((created as Error).message).toMatch(/log in without its password/);
        const rotated = await provider.credentials(ref).catch((e: unknown) => e);
        expect(isProviderError(rotated, 'unsafe_server') && rotated.provider === 'postgres').toBe(true);
        expect(await rolesOn(trusting.url, 'bh_')).toEqual([]);
        expect(await rolesOn(trusting.url, 'bulkhead_login_check_')).toEqual([]);
      } finally {
        await provider.close();
      }
    }
  });

  it('when allowed for development, provisions, and the probe reports the open door', async () => {
    const provider = await createPostgresProvider({
      kind: 'server',
      adminUrl: trusting.url,
      mode: 'database',
      allowPasswordlessLogin: true,
    });
    const refs = [0, 1].map(() => ({ domainId: newId('domain'), resourceId: newId('resource') }));
    try {
      const [x, y] = await Promise.all(refs.map((ref) => provider.create(ref)));
      const report = await provider.probeIsolation(
        { ref: refs[0]!, credentials: x! },
        { ref: refs[1]!, credentials: y! },
      );
      expect(report.refused).toBe(false);
      expect(report.attempts.filter((t) => !t.refused).map((t) => t.attempt)).toEqual([
        "log in as B's role with A's password",
      ]);
    } finally {
      for (const ref of refs) await provider.delete(ref);
      await provider.close();
    }
  });

  it('on a server that asks for them, checks once and leaves no role of its own behind', async () => {
    // A check role left by a process that died mid-check has expired; the next check removes it.
    const stale = `bulkhead_login_check_${randomBytes(8).toString('hex')}`;
    await adminQuery(`CREATE ROLE "${stale}" LOGIN VALID UNTIL '2000-01-01'`);
    const provider = await createPostgresProvider({
      kind: 'server',
      adminUrl: testPostgresUrl,
      mode: 'database',
    });
    const ref = { domainId: newId('domain'), resourceId: newId('resource') };
    try {
      await provider.create(ref);
      await provider.credentials(ref);
      expect(await rolesOn(testPostgresUrl, 'bulkhead_login_check_')).toEqual([]);
    } finally {
      await provider.delete(ref);
      await provider.close();
      await adminQuery(`DROP ROLE IF EXISTS "${stale}"`);
    }
  });
});
