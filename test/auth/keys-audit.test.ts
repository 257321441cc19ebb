// One request with a provisioning key leaves exactly one `key.authenticate` event, whatever the route
// does with it: a read, a change that records the use with itself, a change refused after the read, a
// key refused outright. A client making two requests (a CLI asking whoami first) is audited twice, which
// is why tenant paths take `me` for the key's own domain: one request, one event.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../../src/audit/log.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import { buildServices } from '../../src/runtime.js';
import { openStore } from '../../src/store/store.js';
import {
  asOwner,
  backends,
  createTestDatabase,
  openTestServices,
  testSecret,
  untilSomeoneWaitsForALock,
} from '../helpers/backends.js';
import { callerOf } from '../helpers/api.js';

const operatorToken = 'audit-key-use-operator-token-0123456789';

describe.each(backends)('key use on $name', (backend) => {
  let app: App;
  let services: Awaited<ReturnType<typeof openTestServices>>;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bulkhead-audit-key-use-'));
    // The storage provider needs the keyring, which the services create: a late-bound source.
    const late: { keyring?: Keyring } = {};
    const storage = await createStorageProvider({
      root,
      dataKeys: { dataKey: (domainId) => late.keyring!.dataKey(domainId) },
      maxObjectBytes: 1024 * 1024,
    });
    services = await openTestServices(backend, { providers: new Map([['storage', storage]]) });
    late.keyring = services.keyring;
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
    rmSync(root, { recursive: true, force: true });
  });

  const call = callerOf(() => app, { token: operatorToken });

  async function keyEvents(res: LightMyRequestResponse) {
    const requestId = res.headers['x-request-id'];
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { action: 'key.authenticate', limit: 100_000 }),
    );
    return events.filter((e) => e.requestId === requestId);
  }

  it('writes one event per request, allowed or refused', async () => {
    const slug = `key-use-${process.pid}-${backend.name}`;
    const domain = (
      await call('POST', '/v1/domains', { token: operatorToken, body: { slug, name: 'Key use' } })
    ).json<{
      id: string;
    }>();
    const issued = (
      await call('POST', `/v1/domains/${domain.id}/keys`, { token: operatorToken, body: {} })
    ).json<{
      id: string;
      key: string;
    }>();
    const r = `/v1/domains/${domain.id}/resources`;
    const key = issued.key;

    const requests: [string, () => Promise<LightMyRequestResponse>, number][] = [
      ['whoami', () => call('GET', '/v1/whoami', { token: key }), 200],
      ['list', () => call('GET', r, { token: key }), 200],
      ['create', () => call('POST', r, { token: key, body: { kind: 'storage', name: 'files' } }), 201],
      [
        'create a taken name',
        () => call('POST', r, { token: key, body: { kind: 'storage', name: 'files' } }),
        409,
      ],
      [
        'create an unoffered kind',
        () => call('POST', r, { token: key, body: { kind: 'redis', name: 'cache' } }),
        400,
      ],
    ];
    for (const [what, send, status] of requests) {
      const res = await send();
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
      const events = await keyEvents(res);
      expect(events, what).toHaveLength(1);
      expect(events[0]!.outcome, what).toBe('success');
    }

    const [resource] = (await call('GET', r, { token: key })).json<{ items: { id: string }[] }>().items;
    for (const [what, method, path] of [
      ['get', 'GET', `${r}/${resource!.id}`],
      ['credentials', 'GET', `${r}/${resource!.id}/credentials`],
      ['rotate', 'POST', `${r}/${resource!.id}/credentials/rotate`],
      ['delete', 'DELETE', `${r}/${resource!.id}`],
    ] as const) {
      const res = await call(method, path, { token: key });
      expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(300);
      expect(await keyEvents(res), what).toHaveLength(1);
    }

    const revoked = await call('DELETE', `/v1/domains/${domain.id}/keys/${issued.id}`, {
      token: operatorToken,
    });
    expect(revoked.statusCode, revoked.body).toBeLessThan(300);
    const refused = await call('GET', r, { token: key });
    expect(refused.statusCode).toBe(401);
    const events = await keyEvents(refused);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', detail: { reason: 'revoked' } });
  });

  it('fills `me` in a tenant path from the key: its own domain only, one event, and nothing for the operator', async () => {
    const make = async (slug: string) => {
      const domain = (
        await call('POST', '/v1/domains', { token: operatorToken, body: { slug, name: slug } })
      ).json<{
        id: string;
      }>();
      const { key } = (
        await call('POST', `/v1/domains/${domain.id}/keys`, { token: operatorToken, body: {} })
      ).json<{
        key: string;
      }>();
      return { id: domain.id, key };
    };
    const a = await make(`me-a-${process.pid}-${backend.name}`);
    const b = await make(`me-b-${process.pid}-${backend.name}`);
    const created = await call('POST', '/v1/domains/me/resources', {
      token: a.key,
      body: { kind: 'storage', name: 'mine' },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json<{ domainId: string }>().domainId).toBe(a.id);
    expect(await keyEvents(created)).toHaveLength(1);
    const mine = created.json<{ id: string }>().id;
    const ofB = await call('POST', '/v1/domains/me/resources', {
      token: b.key,
      body: { kind: 'storage', name: 'theirs' },
    });
    const theirs = ofB.json<{ id: string }>().id;

    const listed = await call('GET', '/v1/domains/me/resources', { token: a.key });
    expect(listed.json<{ items: { id: string }[] }>().items.map((i) => i.id)).toEqual([mine]);
    expect(await keyEvents(listed)).toHaveLength(1);

    // `me` is A's domain for A's key: B's resource through it is an unknown one, and stays.
    for (const [method, path] of [
      ['GET', `/v1/domains/me/resources/${theirs}`],
      ['DELETE', `/v1/domains/me/resources/${theirs}`],
      ['PUT', `/v1/domains/me/resources/${theirs}/objects/x.txt`],
    ] as const) {
      const res = await call(method, path, { token: a.key, body: method === 'PUT' ? 'x' : undefined });
      expect(res.statusCode, `${method} ${path}: ${res.body}`).toBe(404);
      expect(res.json<{ code: string }>().code).toBe('not_found');
    }
    const still = await call('GET', `/v1/domains/${b.id}/resources/${theirs}`, { token: b.key });
    expect(still.statusCode).toBe(200);
    expect(still.json<{ status: string }>().status).toBe('ready');

    // The operator has no domain of its own: `me` names nothing, on tenant and public routes alike.
    const operator = await call('GET', '/v1/domains/me/resources', { token: operatorToken });
    expect(operator.statusCode, operator.body).toBe(404);
    expect((await call('GET', '/v1/domains/me/instances', { token: operatorToken })).statusCode).toBe(404);
    // Operator routes take no `me`: a domain id there is a real id, checked as before.
    expect((await call('GET', '/v1/domains/me', { token: a.key })).statusCode).toBe(400);
  });
});

// Each domain's events are chained on a head of their own: a key request of one domain never waits for
// another domain's audit chain. PostgreSQL only: PGlite has one connection, so every transaction there
// runs after the one before and no second transaction can hold a lock while another runs.
describe("a domain's key use while another domain's audit chain is held, on PostgreSQL", () => {
  it("completes at once, while the held domain's request waits for its head", async () => {
    const database = await createTestDatabase();
    const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 5 });
    const services = buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
    const holder = new pg.Client({ connectionString: database.url });
    const watcher = new pg.Client({ connectionString: database.url });
    const app = await buildServer(services);
    try {
      await holder.connect();
      await watcher.connect();
      const actor = { actor: 'operator', requestId: 'req_test' };
      const a = await services.domains.create(actor, { slug: 'held-a', name: 'a' });
      const b = await services.domains.create(actor, { slug: 'free-b', name: 'b' });
      const aKey = await services.keys.issue(actor, a.id);
      const bKey = await services.keys.issue(actor, b.id);
      const whoami = (key: string) =>
        app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${key}` } });

      // A writer of A's chain, mid-transaction: A's head stays locked until it commits.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM audit_heads WHERE chain = $1 FOR UPDATE', [a.id]);
      let aDone = false;
      const aAnswer = whoami(aKey.key).finally(() => (aDone = true));
      await untilSomeoneWaitsForALock(watcher, "A's key use never waited for A's audit head");

      const bAnswer = await Promise.race([
        whoami(bKey.key),
        new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 5_000)),
      ]);
      expect(bAnswer === 'still waiting' ? bAnswer : bAnswer.statusCode).toBe(200);
      expect(aDone).toBe(false);

      await holder.query('COMMIT');
      expect((await aAnswer).statusCode).toBe(200);
      expect(await asOwner(store, verifyAudit)).toMatchObject({ ok: true });
    } finally {
      await holder.end().catch(() => undefined);
      await watcher.end().catch(() => undefined);
      await app.close();
      await services.provisioner.stop();
      await store.close();
      await database.drop();
    }
  });
});
