// The API on a PostgreSQL store reached through a real PgBouncer, in transaction and in session mode,
// with one server connection per pool: requests in flight across token verification, key use, reads and
// creates never answer 500, and valid credentials are always accepted, also after the server restarts
// on a PgBouncer whose server connections still hold what the previous process prepared. A process that
// listens for revocations through the pooler in transaction mode (where notices go astray) never answers
// a revoked token from memory. The same holds with the system context on a login of its own (a pool of
// its own, through PgBouncer too).
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { defaultQuotas } from '../../src/domain/quotas.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { appRole, systemRole } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/store.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { createTestDatabase, testPostgresUrl, testSecret } from '../helpers/backends.js';
import { startPgBouncer, type PgBouncer, type PoolMode } from '../helpers/pgbouncer.js';
import { createTenant, tenantPassword, type CredentialName, type Tenant } from '../helpers/tenants.js';

const inFlight = 30;

interface Server {
  readonly app: App;
  readonly services: Services;
  close(): Promise<void>;
}

/**
 * A server process's worth of Bulkhead: a store through PgBouncer, the services, the HTTP API. With
 * `logins`, the application and system pools log in as logins of their own, each through PgBouncer.
 */
async function startServer(
  bouncer: PgBouncer,
  mode: PoolMode,
  databaseUrl: string,
  logins?: Logins,
): Promise<Server> {
  const store = await openStore({
    kind: 'postgres',
    url: bouncer.through(logins === undefined ? databaseUrl : logins.app),
    ...(logins === undefined ? {} : { systemUrl: bouncer.through(logins.system) }),
    // In session mode each connection holds a server connection for as long as it lives: the pool must
    // fit in PgBouncer's, and notifications need a session of their own, which the pooler cannot spare.
    poolSize: mode === 'session' ? 1 : 5,
    sessionUrl: logins === undefined ? databaseUrl : logins.app,
  });
  const services = buildServices(store, testSecret, {
    providers: new Map(),
    slugQuarantineMs: 0,
    // Every setup creates instances for the same two tenants, and 30 requests in flight is the point:
    // neither the instance quota nor a domain's share of the server (their own suites) may refuse them.
    quotas: { ...defaultQuotas, instances: 100_000 },
    tenantLimits: { requestsPerSecond: 0, requestBurst: 1, concurrentRequests: 0 },
  });
  await services.operator.initialise(operatorToken);
  const app = await buildServer(services);
  return {
    app,
    services,
    async close() {
      await app.close();
      await services.provisioner.stop();
      await services.close();
    },
  };
}

/** The URLs of an application login (a member of bulkhead_app only) and a system login. */
interface Logins {
  readonly app: string;
  readonly system: string;
  /** Their names and password, for PgBouncer's auth file. */
  readonly users: Readonly<Record<string, string>>;
}

interface Outcome {
  readonly what: string;
  readonly status: number;
  readonly body: string;
}

/** Sends `count` requests, `inFlight` at a time, cycling through `requests`; answers every outcome. */
async function load(
  count: number,
  requests: readonly ((i: number) => Promise<[string, LightMyRequestResponse]>)[],
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const [what, res] = await requests[i % requests.length]!(i);
      outcomes.push({ what, status: res.statusCode, body: res.body });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return outcomes;
}

// Session mode hands a client's server connection to the next client once the first is gone, after
// `DISCARD ALL` by default; without it, the next client finds the statements of the one before.
// With separate logins, each pool is a PgBouncer pool of its own (one per database and user).
const setups = [
  { setup: 'transaction mode', mode: 'transaction', reset: undefined, separate: false },
  { setup: 'session mode', mode: 'session', reset: undefined, separate: false },
  { setup: 'session mode, no server reset', mode: 'session', reset: '', separate: false },
  { setup: 'transaction mode, separate system login', mode: 'transaction', reset: undefined, separate: true },
  { setup: 'session mode, separate system login', mode: 'session', reset: undefined, separate: true },
] as const;

let database: { url: string; drop(): Promise<void> };
let tenants: Tenant[];
let logins: Logins;
const loginNames = [
  `bulkhead_pgb_app_${randomBytes(4).toString('hex')}`,
  `bulkhead_pgb_system_${randomBytes(4).toString('hex')}`,
] as const;

beforeAll(async () => {
  database = await createTestDatabase();
  // Migrated and given its tenants once, straight on PostgreSQL; each server then opens it through its
  // PgBouncer, and the tenants' credentials hold there as they would at any server sharing the store.
  const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 2 });
  const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
  await services.operator.initialise(operatorToken);
  const app = await buildServer(services);
  try {
    tenants = [];
    for (const n of [1, 2]) tenants.push(await createTenant(app, operatorToken, `pgb-${n}-${process.pid}`));
  } finally {
    await app.close();
    await services.close();
  }
  const password = randomBytes(16).toString('hex');
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${loginNames[0]} LOGIN PASSWORD '${password}' IN ROLE ${appRole}`);
    await admin.query(`CREATE ROLE ${loginNames[1]} LOGIN PASSWORD '${password}' IN ROLE ${systemRole}`);
  } finally {
    await admin.end();
  }
  const as = (login: string) => {
    const u = new URL(database.url);
    u.username = login;
    u.password = password;
    return u.toString();
  };
  logins = {
    app: as(loginNames[0]),
    system: as(loginNames[1]),
    users: Object.fromEntries(loginNames.map((name) => [name, password])),
  };
}, 60_000);

afterAll(async () => {
  await database?.drop();
  const admin = new pg.Client({ connectionString: testPostgresUrl });
  await admin.connect();
  try {
    for (const name of loginNames) await admin.query(`DROP ROLE IF EXISTS ${name}`);
  } finally {
    await admin.end();
  }
}, 30_000);

describe.each(setups)('the API through PgBouncer in $setup', ({ mode, reset, separate }) => {
  let bouncer: PgBouncer;
  let server: Server;
  const instances = new Map<string, string[]>();
  let phase = 0;

  beforeAll(async () => {
    bouncer = await startPgBouncer(mode, 1, {
      ...(reset === undefined ? {} : { serverResetQuery: reset }),
      ...(separate ? { users: logins.users } : {}),
    });
    server = await startServer(bouncer, mode, database.url, separate ? logins : undefined);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await bouncer?.stop();
  }, 30_000);

  const call = callerOf(() => server.app);
  const labelled = (
    what: string,
    tenant: Tenant,
    credential: CredentialName | 'operator',
    method: string,
    url: string,
  ) => call(method, url, { tenant, credential }).then((res): [string, LightMyRequestResponse] => [what, res]);

  // Token verification, key use, a session, reads of single rows and of lists, and creates, for each
  // tenant in turn: the reads and creates of several requests share PgBouncer's one server connection.
  const requests = [
    (i: number) => labelled('whoami with a token', tenants[i % 2]!, 'token', 'GET', '/v1/whoami'),
    (i: number) => labelled('whoami with a key', tenants[i % 2]!, 'key', 'GET', '/v1/whoami'),
    (i: number) => labelled('whoami with a session', tenants[i % 2]!, 'session', 'GET', '/v1/whoami'),
    async (i: number) => {
      const t = tenants[i % 2]!;
      const res = await call('POST', `/v1/domains/${t.id}/instances`, {
        tenant: t,
        credential: 'key',
        body: { name: `i-${mode}-${reset ?? 'reset'}-${separate ? 's' : 'o'}-${phase}-${i}` },
      });
      if (res.statusCode === 201) {
        const list = instances.get(t.id) ?? [];
        list.push(res.json<{ id: string }>().id);
        instances.set(t.id, list);
      }
      return ['create an instance', res] as [string, LightMyRequestResponse];
    },
    (i: number) => {
      const t = tenants[i % 2]!;
      const ids = instances.get(t.id) ?? [];
      const id = ids[i % Math.max(ids.length, 1)];
      return id === undefined
        ? labelled('list instances', t, 'token', 'GET', `/v1/domains/${t.id}/instances`)
        : labelled('read an instance', t, 'token', 'GET', `/v1/domains/${t.id}/instances/${id}`);
    },
    (i: number) =>
      labelled(
        'list instances',
        tenants[i % 2]!,
        'key',
        'GET',
        `/v1/domains/${tenants[i % 2]!.id}/instances`,
      ),
    (i: number) =>
      labelled('list volumes', tenants[i % 2]!, 'token', 'GET', `/v1/domains/${tenants[i % 2]!.id}/volumes`),
  ];

  const expectAllAnswered = (outcomes: readonly Outcome[]) => {
    const failed = outcomes.filter((o) => o.status !== 200 && o.status !== 201);
    const summary = failed.slice(0, 5).map((o) => `${o.what}: ${o.status} ${o.body.slice(0, 200)}`);
    expect(failed.length, summary.join('\n')).toBe(0);
    expect(outcomes.filter((o) => o.status >= 500)).toEqual([]);
  };

  it(`answers ${inFlight} requests in flight over one server connection with no error`, async () => {
    expectAllAnswered(await load(240, requests));
  }, 60_000);

  if (separate)
    it('runs each pool on its own login through PgBouncer', async () => {
      const store = server.services.store;
      const who = sql<{ login: string; role: string }>`SELECT session_user AS login, current_user AS role`;
      const system = await store.system('operator', (tx) => who.execute(tx));
      expect(system.rows[0]).toEqual({ login: loginNames[1], role: systemRole });
      const tenant = await store.withDomain(tenants[0]!.id, (tx) => who.execute(tx));
      expect(tenant.rows[0]).toEqual({ login: loginNames[0], role: appRole });
      // PgBouncer drops the pools' startup options: each transaction's own SET LOCAL ROLE is what counts,
      // and the application login may not take the system role.
      await expect(
        store.withDomain(tenants[0]!.id, (tx) => sql.raw(`SET LOCAL ROLE ${systemRole}`).execute(tx)),
      ).rejects.toThrow(/permission denied to set role/);
    });

  // Only transaction mode sends notices astray; in session mode the other suites cover listening.
  if (mode === 'transaction')
    it('refuses a revoked token at once at a process that listens through the pooler, where notices go astray', async () => {
      // Another process, configured without a session URL: its LISTEN goes through PgBouncer too.
      const store = await openStore({ kind: 'postgres', url: bouncer.through(database.url), poolSize: 2 });
      const other = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
      try {
        const t = tenants[0]!;
        const login = await server.app.inject({
          method: 'POST',
          url: '/v1/auth/token',
          payload: {
            grant_type: 'password',
            domain: t.id,
            username: 'ada@example.com',
            password: tenantPassword,
          },
        });
        expect(login.statusCode, login.body).toBe(200);
        const token = login.json<{ access_token: string }>().access_token;
        // Verified over and over, as a busy process would: long enough to have remembered it.
        for (let i = 0; i < 10; i++) {
          await expect(other.tokens.verify(token)).resolves.toMatchObject({ domainId: t.id });
          await new Promise((r) => setTimeout(r, 50));
        }
        const logout = await server.app.inject({
          method: 'POST',
          url: '/v1/auth/logout',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(logout.statusCode, logout.body).toBe(204);
        // No notice reaches the other process, and it must not answer from memory.
        await expect(other.tokens.verify(token)).rejects.toMatchObject({ code: 'invalid_credentials' });
      } finally {
        await other.provisioner.stop();
        await other.close();
      }
    }, 30_000);

  it('answers every request, and accepts every valid credential, after the server restarts', async () => {
    // The server connections PgBouncer keeps still hold what the previous process prepared.
    await server.close();
    server = await startServer(bouncer, mode, database.url, separate ? logins : undefined);
    phase++;
    expectAllAnswered(await load(240, requests));
  }, 60_000);
});
