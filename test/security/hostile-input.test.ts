// Inputs that used to answer 500, on both stores: each is now a 400 with a precise code and leaves the
// store as it was; and a time the store holds but a date-time cannot say is rendered, never a 500.
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner, backends } from '../helpers/backends.js';
import { openTestApi, type TestApi } from '../helpers/api.js';
import { snapshotStore } from '../helpers/snapshot.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;
const inADay = () => new Date(Date.now() + 86_400_000).toISOString();

function refused(res: LightMyRequestResponse, code: string, path?: string): void {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<{ code: string; errors?: { path: string; code: string }[] }>();
  expect(body.code, res.body).toBe(code);
  if (path !== undefined) expect(body.errors?.[0]?.path).toBe(path);
}

describe.each(backends)('hostile input on $name', (backend) => {
  let api: TestApi;
  let a: string;
  let b: string;

  beforeAll(async () => {
    api = await openTestApi(backend);
    const create = async (base: string) => {
      const res = await api.call('POST', '/v1/domains', { body: { slug: slug(base), name: base } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    };
    a = await create('hostile-a');
    b = await create('hostile-b');
  });
  afterAll(async () => {
    await api.close();
  });

  /** Sends the request and shows that it was refused with `code` and that no table changed. */
  async function refusedUnchanged(
    method: string,
    url: string,
    body: unknown,
    code: string,
    path?: string,
  ): Promise<void> {
    const before = await snapshotStore(api.services.store);
    const res = await api.call(method, url, body === undefined ? {} : { body });
    refused(res, code, path);
    expect(await snapshotStore(api.services.store)).toEqual(before);
  }

  const grant = (over: Record<string, unknown>) => ({
    from: a,
    to: b,
    actions: ['volumes.read'],
    resources: ['*'],
    expiresAt: inADay(),
    reason: 'support case 42',
    ...over,
  });

  it('refuses a leap second in the revocations feed', async () => {
    const res = await api.call('GET', '/v1/revocations?since=2016-12-31T23:59:60Z');
    refused(res, 'invalid_timestamp', '/query/since');
    expect(res.json<{ detail: string }>().detail).toMatch(/leap second/);
  });

  it('refuses an offset beyond ±14:00 and stores no key; the keys stay listable', async () => {
    await refusedUnchanged(
      'POST',
      `/v1/domains/${a}/keys`,
      { expiresAt: '9999-12-31T23:59:59-23:59' },
      'invalid_timestamp',
      '/body/expiresAt',
    );
    const list = await api.call('GET', `/v1/domains/${a}/keys`);
    expect(list.statusCode, list.body).toBe(200);
  });

  it('refuses an instant past the year 9999 once its offset is applied', async () => {
    await refusedUnchanged(
      'POST',
      `/v1/domains/${a}/keys`,
      { expiresAt: '9999-12-31T23:59:59-01:00' },
      'timestamp_out_of_range',
      '/body/expiresAt',
    );
    await refusedUnchanged(
      'POST',
      `/v1/domains/${a}/keys`,
      { expiresAt: '+010000-01-01T00:00:00Z' },
      'invalid_timestamp',
    );
    await refusedUnchanged('GET', '/v1/audit?since=0000-12-31T23:59:59Z', undefined, 'invalid_timestamp');
    await refusedUnchanged(
      'GET',
      '/v1/audit?until=0001-01-01T00:00:00%2B01:00',
      undefined,
      'timestamp_out_of_range',
    );
  });

  it('refuses a leap second in the expiry of a key or a grant', async () => {
    await refusedUnchanged(
      'POST',
      `/v1/domains/${a}/keys`,
      { expiresAt: '2030-12-31T23:59:60Z' },
      'invalid_timestamp',
    );
    await refusedUnchanged(
      'POST',
      '/v1/grants',
      grant({ expiresAt: '2026-12-31T23:59:60Z' }),
      'invalid_timestamp',
      '/body/expiresAt',
    );
  });

  it('refuses days and times that do not exist', async () => {
    for (const expiresAt of ['2030-02-29T00:00:00Z', '2030-04-31T00:00:00Z', '2030-01-01T24:00:00Z']) {
      await refusedUnchanged('POST', `/v1/domains/${a}/keys`, { expiresAt }, 'invalid_timestamp');
    }
  });

  it('refuses a NUL in a grant reason and a lone surrogate in a key name', async () => {
    await refusedUnchanged(
      'POST',
      '/v1/grants',
      grant({ reason: 'case\u000042' }),
      'invalid_text',
      '/body/reason',
    );
    await refusedUnchanged('POST', `/v1/domains/${a}/keys`, { name: 'ci \ud800 key' }, 'invalid_text');
    await refusedUnchanged(
      'POST',
      '/v1/domains',
      { slug: slug('surrogate'), name: 'x\udc00' },
      'invalid_text',
    );
  });

  it('refuses a NUL in a query parameter', async () => {
    await refusedUnchanged('GET', '/v1/domains?slug=%00', undefined, 'invalid_text', '/query/slug');
    await refusedUnchanged('GET', '/v1/domains?slug=ab%00cd', undefined, 'invalid_text');
  });

  it('refuses a number beyond 2^53 - 1', async () => {
    await refusedUnchanged(
      'GET',
      '/v1/audit?after=99999999999999999999',
      undefined,
      'number_out_of_range',
      '/query/after',
    );
    await refusedUnchanged(
      'PUT',
      `/v1/domains/${a}/pool`,
      { quotas: { storageBytes: 1e300 } },
      'number_out_of_range',
      '/body/quotas/storageBytes',
    );
    const max = await api.call('GET', `/v1/audit?after=${Number.MAX_SAFE_INTEGER}`);
    expect(max.statusCode, max.body).toBe(200);
  });

  it('refuses text longer than a field allows with text_too_long', async () => {
    await refusedUnchanged('POST', `/v1/domains/${a}/keys`, { name: 'k'.repeat(101) }, 'text_too_long');
  });

  it('accepts every form RFC 3339 allows within the limits, and reads it exactly', async () => {
    const cases: [string, string][] = [
      ['2030-01-01T00:00:00.123456789+14:00', '2029-12-31T10:00:00.123Z'],
      ['2030-01-01t00:00:00z', '2030-01-01T00:00:00.000Z'],
      ['2030-06-30T12:00:00-14:00', '2030-07-01T02:00:00.000Z'],
      ['2032-02-29T23:59:59.5-00:00', '2032-02-29T23:59:59.500Z'],
      ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
    ];
    for (const [expiresAt, stored] of cases) {
      const res = await api.call('POST', `/v1/domains/${a}/keys`, { body: { expiresAt } });
      expect(res.statusCode, `${expiresAt}: ${res.body}`).toBe(201);
      expect(res.json<{ expiresAt: string }>().expiresAt).toBe(stored);
    }
    const since = await api.call('GET', '/v1/revocations?since=2016-12-31T23:59:59%2B14:00');
    expect(since.statusCode, since.body).toBe(200);
  });

  it('renders a key whose stored expiry no date-time can say, instead of failing the listing', async () => {
    const domain = (
      await api.call('POST', '/v1/domains', { body: { slug: slug('stored'), name: 'stored' } })
    ).json<{ id: string }>().id;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api.call('POST', `/v1/domains/${domain}/keys`, { body: { name: `k${i}` } });
      ids.push(res.json<{ id: string }>().id);
    }
    // What an older version stored on PostgreSQL for "9999-12-31T23:59:59-23:59", and two more a hand
    // could write.
    await asOwner(api.services.store, async (tx) => {
      await sql`UPDATE provisioning_keys SET expires_at = '10000-01-01T23:58:59Z' WHERE id = ${ids[0]!}`.execute(
        tx,
      );
      await sql`UPDATE provisioning_keys SET expires_at = 'infinity' WHERE id = ${ids[1]!}`.execute(tx);
      await sql`UPDATE provisioning_keys SET expires_at = '0044-03-15 12:00:00+00 BC' WHERE id = ${ids[2]!}`.execute(
        tx,
      );
    });
    const list = await api.call('GET', `/v1/domains/${domain}/keys`);
    expect(list.statusCode, list.body).toBe(200);
    const expiry = new Map(
      list.json<{ items: { id: string; expiresAt: string }[] }>().items.map((k) => [k.id, k.expiresAt]),
    );
    expect(expiry.get(ids[0]!)).toBe('9999-12-31T23:59:59.999Z');
    expect(expiry.get(ids[1]!)).toBe('9999-12-31T23:59:59.999Z');
    expect(expiry.get(ids[2]!)).toBe('0001-01-01T00:00:00.000Z');
  });
});
