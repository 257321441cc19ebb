// What Bulkhead meters itself, on both stores: API requests counted for the domain whose credential made
// them (under a grant too: the acting domain pays), written once per server and window however often
// the counts are flushed; stored bytes sampled into byte-hours once per window however many samples are
// taken; and the usage query's per-day buckets over what was recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { createTenant, credentialHeaders, type CredentialName, type Tenant } from '../helpers/tenants.js';

const operatorToken = 'billing-metering-operator-token-0123456789';
const op = { authorization: `Bearer ${operatorToken}` };
const hour = 3_600_000;

describe.each(backends)('metering requests and stored bytes on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;

  const send = (
    who: Tenant | 'operator',
    credential: CredentialName,
    method: string,
    url: string,
    payload?: unknown,
  ) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: who === 'operator' ? op : credentialHeaders(who, credential, operatorToken, method),
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  /** A domain's usage of `meter` per day, as the operator reads it through the API. */
  const usage = async (
    domainId: string,
    meter: string,
    from = new Date(0),
    to = new Date(Date.now() + hour),
  ) => {
    const res = await send(
      'operator',
      'key',
      'GET',
      `/v1/domains/${domainId}/usage?from=${from.toISOString()}&to=${to.toISOString()}&meter=${meter}`,
    );
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ items: { day: string; meter: string; quantity: number }[] }>().items;
  };
  const total = async (domainId: string, meter: string) =>
    (await usage(domainId, meter)).reduce((sum, bucket) => sum + bucket.quantity, 0);

  beforeAll(async () => {
    providers = await openTestProviders();
    services = await openTestServices(backend, { providers: providers.providers });
    providers.bind(services.keyring);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await createTenant(app, operatorToken, `meter-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `meter-b-${backend.name}-${process.pid}`);
    services.meter.configure(60_000, hour);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('counts requests for the domain whose credential made them, under a grant too, once per window', async () => {
    await services.meter.flush(true);
    // Every request below, and the window written again at the end, must fall in one minute's window:
    // a start in a minute's last ten seconds waits for the next one.
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoWindow + 50));
    const windowOf = (t: number) => t - (t % 60_000);
    const window = windowOf(Date.now());
    const aBefore = await total(a.id, 'api.requests');
    const bBefore = await total(b.id, 'api.requests');
    const bVolume = await send(b, 'key', 'POST', `/v1/domains/${b.id}/volumes`, {
      name: 'shared',
      sizeBytes: 4096,
    });
    expect(bVolume.statusCode, bVolume.body).toBe(201);
    const grant = await send('operator', 'key', 'POST', '/v1/grants', {
      from: a.id,
      to: b.id,
      actions: ['volumes.read'],
      resources: ['*'],
      expiresAt: new Date(Date.now() + hour).toISOString(),
      reason: 'metering test',
    });
    expect(grant.statusCode, grant.body).toBe(201);
    for (const credential of ['key', 'token', 'session'] as const)
      expect((await send(a, credential, 'GET', `/v1/domains/${a.id}/volumes`)).statusCode).toBe(200);
    // A acting in B under the grant: A's requests, A's usage.
    for (let i = 0; i < 4; i++) {
      const res = await send(a, 'key', 'GET', `/v1/domains/${b.id}/volumes`);
      expect(res.statusCode, res.body).toBe(200);
    }
    expect((await send(b, 'key', 'GET', `/v1/domains/${b.id}/volumes`)).statusCode).toBe(200);
    // A refused request made with A's credential is still A's request; one without a credential is no one's.
    expect((await send(a, 'key', 'GET', `/v1/domains/${a.id}/invoices`)).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: `/v1/domains/${b.id}/volumes` })).statusCode).toBe(401);

    await services.meter.flush(true);
    expect(await total(a.id, 'api.requests')).toBe(aBefore + 3 + 4 + 1);
    expect(await total(b.id, 'api.requests')).toBe(bBefore + 2);
    // Flushing again, or writing a window's count again under its event id, counts nothing more.
    await services.meter.flush(true);
    expect(windowOf(Date.now()), 'the requests stayed in one window').toBe(window);
    const again = await services.billing.recordOwnUsage(a.id, {
      eventId: `requests:${services.meter.serverId}:${window}`,
      meter: 'api.requests',
      quantity: 8n,
      at: new Date(window),
      source: 'requests',
    });
    expect(again).toBe(false);
    expect(await total(a.id, 'api.requests')).toBe(aBefore + 8);
    expect(await total(b.id, 'api.requests')).toBe(bBefore + 2);
  });

  it('samples stored bytes into byte-hours once per window, for each domain its own', async () => {
    const aVolume = await send(a, 'key', 'POST', `/v1/domains/${a.id}/volumes`, {
      name: 'data',
      sizeBytes: 8192,
    });
    expect(aVolume.statusCode, aVolume.body).toBe(201);
    const at = new Date(Math.floor(Date.now() / hour) * hour + 1000);
    const aBefore = await total(a.id, 'storage.bytes');
    const bBefore = await total(b.id, 'storage.bytes');
    expect(await services.meter.sampleStorage(at)).toBeGreaterThanOrEqual(2);
    const aBytes = (await total(a.id, 'storage.bytes')) - aBefore;
    const bBytes = (await total(b.id, 'storage.bytes')) - bBefore;
    // A's volume (8,192 bytes for an hour) and B's (4,096); a storage area of either would add to its own.
    expect(aBytes).toBe(8192);
    expect(bBytes).toBe(4096);
    // A second sample of the same window (another server's, or a restart's) counts nothing more.
    expect(await services.meter.sampleStorage(new Date(at.getTime() + 60_000))).toBe(0);
    expect((await total(a.id, 'storage.bytes')) - aBefore).toBe(8192);
  });

  it('answers usage in per-day buckets over [from, to), of one meter when asked', async () => {
    const day = (n: number) => new Date(Date.UTC(2026, 0, n, 12));
    for (const [n, meter, quantity] of [
      [10, 'api.requests', 5],
      [10, 'api.requests', 7],
      [11, 'api.requests', 1],
      [11, 'storage.bytes', 100],
      [12, 'api.requests', 2],
    ] as const)
      await services.billing.recordOwnUsage(a.id, {
        eventId: `bucket:${n}:${meter}:${quantity}`,
        meter,
        quantity: BigInt(quantity),
        at: day(n),
        source: meter === 'api.requests' ? 'requests' : 'storage',
      });
    const from = new Date(Date.UTC(2026, 0, 10));
    const to = new Date(Date.UTC(2026, 0, 12));
    const all = await send(
      'operator',
      'key',
      'GET',
      `/v1/domains/${a.id}/usage?from=${from.toISOString()}&to=${to.toISOString()}`,
    );
    expect(all.json()).toEqual({
      items: [
        { day: '2026-01-10', meter: 'api.requests', quantity: 12 },
        { day: '2026-01-11', meter: 'api.requests', quantity: 1 },
        { day: '2026-01-11', meter: 'storage.bytes', quantity: 100 },
      ],
    });
    expect(await usage(a.id, 'storage.bytes', from, to)).toEqual([
      { day: '2026-01-11', meter: 'storage.bytes', quantity: 100 },
    ]);
    // B's usage of the same days has none of A's.
    expect(await usage(b.id, 'api.requests', from, to)).toEqual([]);
    for (const query of [
      `from=${to.toISOString()}&to=${from.toISOString()}`,
      `from=${from.toISOString()}`,
      `from=yesterday&to=${to.toISOString()}`,
      `from=${from.toISOString()}&to=${to.toISOString()}&meter=API`,
      `from=${from.toISOString()}&to=${to.toISOString()}&domainId=${b.id}`,
    ]) {
      const res = await send('operator', 'key', 'GET', `/v1/domains/${a.id}/usage?${query}`);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(400);
    }
  });
});
