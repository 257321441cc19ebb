// The API on a PostgreSQL store reached through a real PgBouncer, in transaction and in session mode,
// with one server connection per pool: requests in flight across token verification, key use, reads and
// creates never answer 500, and valid credentials are always accepted, also after the server restarts
// on a PgBouncer whose server connections still hold what the previous process prepared. A process that
// listens for revocations through the pooler in transaction mode (where notices go astray) never answers
// a revoked token from memory.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/http/server.js';
import type { App } from '../src/http/types.js';
import { defaultQuotas } from '../src/provisioner/quotas.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';
import { operatorToken } from './helpers/api.js';
import { createTestDatabase, testSecret } from './helpers/backends.js';
import { startPgBouncer, type PgBouncer, type PoolMode } from './helpers/pgbouncer.js';
import {
  createTenant,
  credentialHeaders,
  tenantPassword,
  type CredentialName,
  type Tenant,
} from './helpers/tenants.js';

const inFlight = 30;

interface Server {
  readonly app: App;
  readonly services: Services;
  close(): Promise<void>;
}

/** A server process's worth of Bulkhead: a store through PgBouncer, the services, the HTTP API. */
async function startServer(bouncer: PgBouncer, mode: PoolMode, databaseUrl: string): Promise<Server> {
  const store = await openStore({
    kind: 'postgres',
    url: bouncer.through(databaseUrl),
    // In session mode each connection holds a server connection for as long as it lives: the pool must
    // fit in PgBouncer's, and notifications need a session of their own, which the pooler cannot spare.
    poolSize: mode === 'session' ? 1 : 5,
    sessionUrl: databaseUrl,
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
const setups = [
  { setup: 'transaction mode', mode: 'transaction', reset: undefined },
  { setup: 'session mode', mode: 'session', reset: undefined },
  { setup: 'session mode, no server reset', mode: 'session', reset: '' },
] as const;

let database: { url: string; drop(): Promise<void> };
let tenants: Tenant[];

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
}, 60_000);

afterAll(async () => {
  await database?.drop();
}, 30_000);

describe.each(setups)('the API through PgBouncer in $setup', ({ mode, reset }) => {
  let bouncer: PgBouncer;
  let server: Server;
  const instances = new Map<string, string[]>();
  let phase = 0;

  beforeAll(async () => {
    bouncer = await startPgBouncer(mode, 1, reset === undefined ? {} : { serverResetQuery: reset });
    server = await startServer(bouncer, mode, database.url);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await bouncer?.stop();
  }, 30_000);

  const call = (
    what: string,
    tenant: Tenant,
    credential: CredentialName | 'operator',
    method: string,
    url: string,
    body?: unknown,
  ) =>
    server.app
      .inject({
        method: method as 'GET',
        url,
        headers: credentialHeaders(tenant, credential, operatorToken, method),
        ...(body === undefined ? {} : { payload: body as object }),
      })
      .then((res): [string, LightMyRequestResponse] => [what, res]);

  // Token verification, key use, a session, reads of single rows and of lists, and creates, for each
  // tenant in turn: the reads and creates of several requests share PgBouncer's one server connection.
  const requests = [
    (i: number) => call('whoami with a token', tenants[i % 2]!, 'token', 'GET', '/v1/whoami'),
    (i: number) => call('whoami with a key', tenants[i % 2]!, 'key', 'GET', '/v1/whoami'),
    (i: number) => call('whoami with a session', tenants[i % 2]!, 'session', 'GET', '/v1/whoami'),
    async (i: number) => {
      const t = tenants[i % 2]!;
      const res = await server.app.inject({
        method: 'POST',
        url: `/v1/domains/${t.id}/instances`,
        headers: credentialHeaders(t, 'key', operatorToken, 'POST'),
        payload: { name: `i-${mode}-${reset ?? 'reset'}-${phase}-${i}` },
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
        ? call('list instances', t, 'token', 'GET', `/v1/domains/${t.id}/instances`)
        : call('read an instance', t, 'token', 'GET', `/v1/domains/${t.id}/instances/${id}`);
    },
    (i: number) =>
      call('list instances', tenants[i % 2]!, 'key', 'GET', `/v1/domains/${tenants[i % 2]!.id}/instances`),
    (i: number) =>
      call('list volumes', tenants[i % 2]!, 'token', 'GET', `/v1/domains/${tenants[i % 2]!.id}/volumes`),
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
    server = await startServer(bouncer, mode, database.url);
    phase++;
    expectAllAnswered(await load(240, requests));
  }, 60_000);
});
