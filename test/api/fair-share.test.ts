// One domain cannot take another's share of the server. Over real HTTP, on both stores: a domain over its
// request rate or with too many requests in flight gets 429 with Retry-After and the RateLimit headers,
// while another domain's requests go through at once; the operator is never counted against a domain; a
// pool override applies from the next request; a request's place is freed when its client goes away.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listAudit, verifyAudit } from '../../src/audit/log.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { keyDisplayPrefix } from '../../src/keys/format.js';
import { maxHeldPerDomain, TenantLimits } from '../../src/services/tenant-limits.js';
import { operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A request whose body never finishes: it stays in flight until it is destroyed. */
function hold(base: string, path: string, key: string): ClientRequest {
  const req = httpRequest(new URL(path, base), {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': '100' },
  });
  req.on('error', () => undefined);
  req.write('{"kind":');
  return req;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(backends)('fair sharing between domains on $name', (backend) => {
  let app: App;
  let services: Awaited<ReturnType<typeof openTestServices>>;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  const op = { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' };

  beforeAll(async () => {
    // Refusals answered at once: these tests count what the share admits and refuses in a row, which a
    // held refusal would let the bucket refill between. The hold has a test of its own below.
    services = await openTestServices(backend, { refusalHoldMs: 0 });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    a = await createTenant(app, operatorToken, 'noisy-a');
    b = await createTenant(app, operatorToken, 'quiet-b');
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('refuses a domain over its rate with 429, Retry-After and RateLimit headers, and lets another domain through', async () => {
    const set = await send(
      base,
      'PUT',
      `/v1/domains/${a.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 1, requestBurst: 5 } }),
    );
    expect(set.status, set.body).toBe(200);
    expect(JSON.parse(set.body)).toMatchObject({ limits: { requestsPerSecond: 1, requestBurst: 5 } });

    const answers: Answer[] = [];
    for (let i = 0; i < 8; i++)
      answers.push(await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` }));
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    // The burst of 5, and perhaps one more that the rate refilled while the requests ran.
    expect(ok.length).toBeGreaterThanOrEqual(5);
    expect(ok.length).toBeLessThanOrEqual(6);
    expect(refused.length).toBe(8 - ok.length);
    expect(ok[0]!.headers['ratelimit-policy']).toBe('"domain";q=1;w=1');
    expect(ok[0]!.headers['ratelimit']).toMatch(/^"domain";r=\d+;t=\d+$/);
    const last = refused.at(-1)!;
    expect(last.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(last.body)).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(Number(last.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(last.headers['ratelimit']).toMatch(/^"domain";r=0;t=[1-9]\d*$/);

    // Every credential of A shares the one domain share; B's is untouched; the operator is not counted.
    expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.token}` })).status).toBe(429);
    expect((await send(base, 'GET', '/v1/whoami', { cookie: a.cookie })).status).toBe(429);
    for (let i = 0; i < 8; i++) {
      expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${b.key}` })).status).toBe(200);
    }
    expect((await send(base, 'GET', `/v1/domains/${a.id}`, op)).status).toBe(200);

    // Lifting the limit applies from the next request.
    const lift = await send(
      base,
      'PUT',
      `/v1/domains/${a.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 0 } }),
    );
    expect(lift.status, lift.body).toBe(200);
    const after = await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` });
    expect(after.status, after.body).toBe(200);
    expect(after.headers['ratelimit']).toBeUndefined();
  });

  it('refuses a domain with too many requests in flight, frees the place when the client goes away, and never blocks another domain', async () => {
    const set = await send(
      base,
      'PUT',
      `/v1/domains/${a.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 2 } }),
    );
    expect(set.status, set.body).toBe(200);
    const path = `/v1/domains/${a.id}/resources`;
    const held = [hold(base, path, a.key), hold(base, path, a.key)];
    await until(() => services.tenantLimits.inFlight(a.id) === 2, 'two requests of A in flight');

    const refused = await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` });
    expect(refused.status, refused.body).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited' });
    expect(refused.headers['retry-after']).toBe('1');
    expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${b.key}` })).status).toBe(200);

    held[0]!.destroy();
    await until(() => services.tenantLimits.inFlight(a.id) === 1, 'the abandoned request to be freed');
    expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` })).status).toBe(200);
    held[1]!.destroy();
    await until(() => services.tenantLimits.inFlight(a.id) === 0, 'every place of A to be free');
  });

  it('frees the place of every request whose client closed the connection before the answer', async () => {
    const set = await send(
      base,
      'PUT',
      `/v1/domains/${a.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 0 } }),
    );
    expect(set.status, set.body).toBe(200);
    // The token is verified once, so that the requests below wait only for the domain's limits, which
    // are read again (forgotten here) from a table held locked; their clients leave while they wait.
    expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.token}` })).status).toBe(200);
    services.tenantLimits.forget(a.id);
    const abandoned: ClientRequest[] = [];
    await asOwner(services.store, async (tx) => {
      await sql`LOCK TABLE pools IN ACCESS EXCLUSIVE MODE`.execute(tx);
      for (let i = 0; i < 6; i++) {
        const req = httpRequest(new URL('/v1/whoami', base), {
          headers: { authorization: `Bearer ${a.token}` },
        });
        req.on('error', () => undefined);
        req.end();
        abandoned.push(req);
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const req of abandoned) req.destroy();
      await new Promise((r) => setTimeout(r, 100));
    });
    await until(() => services.tenantLimits.inFlight(a.id) === 0, 'every abandoned request to be freed');
  });

  it("leaves no audit event of its own for a refused key request, and audits the domain's refusals together", async () => {
    const c = await createTenant(app, operatorToken, 'tally-c');
    const set = await send(
      base,
      'PUT',
      `/v1/domains/${c.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 1, requestBurst: 3 } }),
    );
    expect(set.status, set.body).toBe(200);
    await services.tenantLimits.recordRefusals();
    const events = () => asOwner(services.store, (tx) => listAudit(tx, { domainId: c.id, limit: 100_000 }));
    const before = await events();

    const answers: Answer[] = [];
    for (let i = 0; i < 10; i++)
      answers.push(await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${c.key}` }));
    const refused = answers.filter((r) => r.status === 429);
    const admitted = answers.filter((r) => r.status === 200);
    expect(refused.length).toBeGreaterThanOrEqual(6);
    expect(refused.length + admitted.length).toBe(10);

    // Every admitted use is audited as before; a refused one writes nothing to the store.
    const written = (await events()).slice(before.length);
    const byRequest = (r: Answer) => written.filter((e) => e.requestId === r.headers['x-request-id']);
    for (const r of admitted)
      expect(byRequest(r).map((e) => [e.action, e.outcome])).toEqual([['key.authenticate', 'success']]);
    for (const r of refused) expect(byRequest(r)).toEqual([]);
    expect(written).toHaveLength(admitted.length);

    // The refusals are recorded as one event of the domain for the interval, with their count.
    await services.tenantLimits.recordRefusals();
    const tallied = (await events()).slice(before.length + admitted.length);
    expect(tallied).toHaveLength(1);
    expect(tallied[0]).toMatchObject({
      domainId: c.id,
      actor: 'system',
      action: 'access.rate_limited',
      outcome: 'denied',
      detail: { refused: refused.length, rate: refused.length, concurrency: 0 },
    });
    expect(await asOwner(services.store, verifyAudit)).toMatchObject({ ok: true });
  });

  it('refuses a key of a domain over its share before any store work, and refuses at once a key revoked, rotated out or of a suspended domain', async () => {
    const c = await createTenant(app, operatorToken, 'early-c');
    const set = await send(
      base,
      'PUT',
      `/v1/domains/${c.id}/pool`,
      op,
      JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 1 } }),
    );
    expect(set.status, set.body).toBe(200);
    const opBare = { authorization: `Bearer ${operatorToken}` };
    const as = (key: string) => send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${key}` });
    const keyId = async (key: string) =>
      (await services.keys.list(c.id)).find((k) => k.prefix === keyDisplayPrefix(key))!.id;
    // A key becomes known once it is read while the process hears key changes.
    const known = async (key: string) => {
      for (let i = 0; i < 200 && services.keys.knownDomain(key) !== c.id; i++) {
        await as(key);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(services.keys.knownDomain(key)).toBe(c.id);
    };
    await known(c.key);
    // One request of the domain held in flight: every other is over its share until it ends.
    const held = hold(base, `/v1/domains/${c.id}/resources`, c.key);
    await until(() => services.tenantLimits.inFlight(c.id) === 1, 'the held request to be admitted');

    // Every way into the store, counted while the key's domain is over its share.
    const spies = (['read', 'change', 'withDomain', 'system', 'systemRead', 'systemCommit'] as const).map(
      (name) => vi.spyOn(services.store, name),
    );
    try {
      for (let i = 0; i < 5; i++) {
        const refused = await as(c.key);
        expect(refused.status, refused.body).toBe(429);
        expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited' });
        expect(refused.headers['retry-after']).toBe('1');
      }
      expect(spies.map((spy) => spy.mock.calls.length)).toEqual(spies.map(() => 0));
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    // The share only refuses early: a key that can no longer be used is refused as such at once, audited,
    // while its domain is still over its share.
    const refusedAs = async (key: string, reason: string) => {
      const res = await as(key);
      expect(res.status, res.body).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'invalid_credentials' });
      const events = await asOwner(services.store, (tx) => listAudit(tx, { domainId: c.id, limit: 100_000 }));
      expect(events.find((e) => e.requestId === res.headers['x-request-id'])).toMatchObject({
        action: 'key.authenticate',
        outcome: 'denied',
        detail: { reason },
      });
    };
    const revoked = await send(base, 'DELETE', `/v1/domains/${c.id}/keys/${await keyId(c.key)}`, opBare);
    expect(revoked.status, revoked.body).toBe(200);
    await refusedAs(c.key, 'revoked');

    const issue = async () => {
      const res = await send(base, 'POST', `/v1/domains/${c.id}/keys`, op, '{}');
      expect(res.status, res.body).toBe(201);
      const key = (JSON.parse(res.body) as { key: string }).key;
      await known(key);
      expect((await as(key)).status).toBe(429);
      return key;
    };
    const rotatedOut = await issue();
    const rotated = await send(
      base,
      'POST',
      `/v1/domains/${c.id}/keys/${await keyId(rotatedOut)}/rotate`,
      op,
      JSON.stringify({ overlapSeconds: 0 }),
    );
    expect(rotated.status, rotated.body).toBe(201);
    await refusedAs(rotatedOut, 'expired');

    const suspendedKey = await issue();
    const suspended = await send(base, 'POST', `/v1/domains/${c.id}/suspend`, opBare);
    expect(suspended.status, suspended.body).toBe(200);
    await refusedAs(suspendedKey, 'domain_inactive');
    const resumed = await send(base, 'POST', `/v1/domains/${c.id}/resume`, opBare);
    expect(resumed.status, resumed.body).toBe(200);
    held.destroy();
    await until(() => services.tenantLimits.inFlight(c.id) === 0, 'the held request to be freed');
  });

  it('counts refusals on /metrics by reason, with no domain in the labels', async () => {
    const res = await send(base, 'GET', '/metrics', { authorization: `Bearer ${operatorToken}` });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/bulkhead_tenant_requests_refused_total\{reason="rate"\} [1-9]/);
    expect(res.body).toMatch(/bulkhead_tenant_requests_refused_total\{reason="concurrency"\} [1-9]/);
    expect(res.body).not.toContain(a.id);
  });

  it('refuses pool limits out of range and changes nothing', async () => {
    const before = await send(base, 'GET', `/v1/domains/${b.id}/pool`, op);
    for (const limits of [
      { requestBurst: 0 },
      { requestsPerSecond: -1 },
      { concurrentRequests: 1.5 },
      { x: 1 },
    ]) {
      const res = await send(base, 'PUT', `/v1/domains/${b.id}/pool`, op, JSON.stringify({ limits }));
      expect(res.status, res.body).toBe(400);
    }
    expect((await send(base, 'GET', `/v1/domains/${b.id}/pool`, op)).body).toBe(before.body);
  });
});

describe('the share of one domain', () => {
  it('refills at the configured rate and never lets more than the burst through at once', async () => {
    let now = 0;
    const limits = new TenantLimits({
      defaults: { requestsPerSecond: 10, requestBurst: 3, concurrentRequests: 0 },
      overrides: () => Promise.resolve({}),
      now: () => now,
    });
    const take = async () => (await limits.admit('dom_a')).admitted;
    expect([await take(), await take(), await take(), await take()]).toEqual([true, true, true, false]);
    now += 100; // one token
    expect([await take(), await take()]).toEqual([true, false]);
    now += 10_000; // refilled to the burst, not beyond
    expect([await take(), await take(), await take(), await take()]).toEqual([true, true, true, false]);
    const refused = await limits.admit('dom_a');
    expect(refused).toMatchObject({ admitted: false, reason: 'rate', retryAfter: 1 });
    expect((await limits.admit('dom_b')).admitted).toBe(true);
  });

  it('refuses early only under limits it has read, reads them once however many ask, and forgets them at a pool change', async () => {
    let now = 0;
    let reads = 0;
    let overrides: Record<string, number> = { requestBurst: 1 };
    const limits = new TenantLimits({
      defaults: { requestsPerSecond: 1, requestBurst: 3, concurrentRequests: 0 },
      overrides: async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 10));
        return overrides;
      },
      cacheMs: 5_000,
      now: () => now,
    });
    // Nothing read yet: no early answer either way, and nothing taken.
    expect(limits.refuseEarly('dom_a')).toBeNull();
    const first = await Promise.all([limits.admit('dom_a'), limits.admit('dom_a'), limits.admit('dom_a')]);
    expect(reads).toBe(1);
    expect(first.map((a) => a.admitted)).toEqual([true, false, false]);
    expect(limits.refuseEarly('dom_a')).toMatchObject({ admitted: false, reason: 'rate' });
    // Past their time, the limits are read again in the background and serve meanwhile.
    now += 6_000;
    expect(limits.refuseEarly('dom_a')).toBeNull(); // a token came back: admit decides
    expect((await limits.admit('dom_a')).admitted).toBe(true); // under the read it shares
    expect(reads).toBe(2);
    expect(limits.refuseEarly('dom_a')).toMatchObject({ admitted: false });
    // A pool change made here applies from the next request: no early answer under the old limits.
    overrides = { requestsPerSecond: 0 };
    limits.forget('dom_a');
    expect(limits.refuseEarly('dom_a')).toBeNull();
    expect((await limits.admit('dom_a')).admitted).toBe(true);
    expect(reads).toBe(3);
  });

  it('reads its defaults from the environment and refuses a bad value with one line', () => {
    const config = loadConfig({
      BULKHEAD_DOMAIN_REQUESTS_PER_SECOND: '50',
      BULKHEAD_DOMAIN_REQUEST_BURST: '60',
      BULKHEAD_DOMAIN_CONCURRENT_REQUESTS: '4',
    });
    expect([
      config.domainRequestsPerSecond,
      config.domainRequestBurst,
      config.domainConcurrentRequests,
    ]).toEqual([50, 60, 4]);
    const defaults = loadConfig({});
    expect([
      defaults.domainRequestsPerSecond,
      defaults.domainRequestBurst,
      defaults.domainConcurrentRequests,
    ]).toEqual([200, 400, 16]);
    expect(() => loadConfig({ BULKHEAD_DOMAIN_REQUEST_BURST: '0' })).toThrow(/BULKHEAD_DOMAIN_REQUEST_BURST/);
  });
});

describe('a refusal held before it is answered', () => {
  it('holds a refused request for up to the hold (never past Retry-After), so a flood is slowed per connection, and answers at once past the cap', async () => {
    const services = await openTestServices(backends[0]!, { refusalHoldMs: 600 });
    try {
      await services.operator.initialise(operatorToken);
      const app = await buildServer(services);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const op = { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' };
      const a = await createTenant(app, operatorToken, 'held-a');
      const b = await createTenant(app, operatorToken, 'held-b');
      const set = await send(
        base,
        'PUT',
        `/v1/domains/${a.id}/pool`,
        op,
        JSON.stringify({ limits: { requestsPerSecond: 1, requestBurst: 1 } }),
      );
      expect(set.status, set.body).toBe(200);
      expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` })).status).toBe(200);

      // A refused request is answered 429 after half to all of the hold, while B is answered at once.
      const started = performance.now();
      const refused = send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` });
      await until(() => services.tenantLimits.heldNow(a.id) === 1, "A's refusal to be held");
      const other = performance.now();
      expect((await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${b.key}` })).status).toBe(200);
      expect(performance.now() - other).toBeLessThan(300);
      const answer = await refused;
      expect(answer.status).toBe(429);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'rate_limited' });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(services.tenantLimits.heldNow()).toBe(0);

      // Past the cap of held refusals for one domain, a refusal is answered at once.
      const held = Array.from({ length: maxHeldPerDomain }, () => services.tenantLimits.hold(a.id, 1));
      expect(services.tenantLimits.heldNow(a.id)).toBe(maxHeldPerDomain);
      const past = performance.now();
      const quick = await send(base, 'GET', '/v1/whoami', { authorization: `Bearer ${a.key}` });
      expect(quick.status).toBe(429);
      expect(performance.now() - past).toBeLessThan(250);
      await Promise.all(held);
      expect(services.tenantLimits.heldNow()).toBe(0);
      await app.close();
    } finally {
      await services.drop();
    }
  });
});
