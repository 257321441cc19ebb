// Conditional requests on both store backends: every item's GET carries a strong ETag that changes with
// the item, If-None-Match answers 304, and a change or delete sent with a stale If-Match is 412 with
// nothing changed. Another domain's item answers the same 404 as an unknown id whatever If-Match says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { buildServer } from '../../src/http/server.js';
import { callerOf, openTestApi, operatorToken, type TestApi } from '../helpers/api.js';
import { comparable, createTenant, domainState, type Tenant } from '../helpers/tenants.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;
const unknownInstance = 'ins_00000000000000000000000000';

describe.each(backends)('ETag and If-Match on $name', (backend) => {
  let api: TestApi;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createTenant(api.app, operatorToken, slug('etag-a'));
    b = await createTenant(api.app, operatorToken, slug('etag-b'));
  });
  afterAll(async () => {
    await api.close();
  });

  const instance = async (t: Tenant) => {
    const res = await api.call('POST', `/v1/domains/${t.id}/instances`, {
      token: t.key,
      body: { name: slug('i') },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  };

  it('gives each item a strong ETag, answers a matching If-None-Match with 304, and a changed item a new one', async () => {
    const url = `/v1/domains/${a.id}`;
    const first = await api.call('GET', url);
    expect(first.statusCode).toBe(200);
    const etag = String(first.headers['etag']);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect((await api.call('GET', url)).headers['etag']).toBe(etag);

    const unchanged = await api.call('GET', url, { headers: { 'if-none-match': etag } });
    expect(unchanged.statusCode).toBe(304);
    expect(unchanged.body).toBe('');
    expect(unchanged.headers['etag']).toBe(etag);
    expect((await api.call('GET', url, { headers: { 'if-none-match': `W/${etag}` } })).statusCode).toBe(304);
    expect((await api.call('GET', url, { headers: { 'if-none-match': '"other"' } })).statusCode).toBe(200);

    const suspended = await api.call('POST', `${url}/suspend`, { headers: { 'if-match': etag } });
    expect(suspended.statusCode, suspended.body).toBe(200);
    const after = await api.call('GET', url, { headers: { 'if-none-match': etag } });
    expect(after.statusCode).toBe(200);
    expect(after.headers['etag']).not.toBe(etag);
    expect((await api.call('POST', `${url}/resume`, { headers: { 'if-match': etag } })).statusCode).toBe(412);
    expect(
      (await api.call('POST', `${url}/resume`, { headers: { 'if-match': String(after.headers['etag']) } }))
        .statusCode,
    ).toBe(200);
  });

  it('refuses a delete with a stale If-Match with 412 and deletes nothing (the reported case)', async () => {
    const id = await instance(a);
    const url = `/v1/domains/${a.id}/instances/${id}`;
    const before = await api.call('GET', url, { token: a.key });
    for (const stale of ['"nope"', `W/${String(before.headers['etag'])}`]) {
      const res = await api.call('DELETE', url, { token: a.key, headers: { 'if-match': stale } });
      expect(res.statusCode, res.body).toBe(412);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 412, code: 'precondition_failed' });
    }
    const still = await api.call('GET', url, { token: a.key });
    expect(still.json()).toEqual(before.json());
    expect(still.headers['etag']).toBe(before.headers['etag']);

    const deleted = await api.call('DELETE', url, {
      token: a.key,
      headers: { 'if-match': `"x", ${String(before.headers['etag'])}` },
    });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toMatchObject({ status: 'deleted' });
  });

  it('lets If-Match: * through for any existing item, and is 404 for none', async () => {
    const id = await instance(a);
    const gone = await api.call('DELETE', `/v1/domains/${a.id}/instances/${unknownInstance}`, {
      token: a.key,
      headers: { 'if-match': '*' },
    });
    expect(gone.statusCode).toBe(404);
    const res = await api.call('DELETE', `/v1/domains/${a.id}/instances/${id}`, {
      token: a.key,
      headers: { 'if-match': '*' },
    });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('answers a malformed If-Match or If-None-Match with 400 and changes nothing', async () => {
    const id = await instance(a);
    const url = `/v1/domains/${a.id}/instances/${id}`;
    for (const bad of ['nope', '"open', '"a" "b"', 'W/nope']) {
      const res = await api.call('DELETE', url, { token: a.key, headers: { 'if-match': bad } });
      expect(res.statusCode, `${bad}: ${res.body}`).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_precondition' });
      const get = await api.call('GET', url, { token: a.key, headers: { 'if-none-match': bad } });
      expect(get.statusCode, `${bad}: ${get.body}`).toBe(400);
    }
    expect((await api.call('GET', url, { token: a.key })).json()).toMatchObject({ status: 'running' });
  });

  it("answers A's If-Match on B's item exactly as on an unknown one, and B stays as it was", async () => {
    const bInstance = await instance(b);
    const bUrl = `/v1/domains/${b.id}/instances/${bInstance}`;
    const etag = String((await api.call('GET', bUrl, { token: b.key })).headers['etag']);
    const before = await domainState(api.services, b.id);
    for (const ifMatch of ['*', etag, '"nope"']) {
      for (const credential of ['key', 'token'] as const) {
        const foreign = await api.call('DELETE', bUrl, {
          tenant: a,
          credential,
          headers: { 'if-match': ifMatch },
        });
        const unknown = await api.call('DELETE', `/v1/domains/${b.id}/instances/${unknownInstance}`, {
          tenant: a,
          credential,
          headers: { 'if-match': ifMatch },
        });
        expect(foreign.statusCode, foreign.body).toBe(404);
        expect(comparable(foreign)).toEqual(comparable(unknown));
        expect(foreign.headers['etag']).toBeUndefined();
        // A's own path with B's id: the same.
        const ownPath = await api.call('DELETE', `/v1/domains/${a.id}/instances/${bInstance}`, {
          tenant: a,
          credential,
          headers: { 'if-match': ifMatch },
        });
        expect(comparable(ownPath)).toEqual(comparable(unknown));
      }
      const read = await api.call('GET', bUrl, { token: a.key, headers: { 'if-none-match': etag } });
      expect(read.statusCode).toBe(404);
    }
    expect(await domainState(api.services, b.id)).toEqual(before);
  });

  it('puts ETags on keys, principals, grants, OAuth clients, volumes, resources settings and honours If-Match on their changes', async () => {
    const keyIssue = await api.call('POST', `/v1/domains/${a.id}/keys`, { body: {} });
    const keyId = keyIssue.json<{ id: string }>().id;
    const keyUrl = `/v1/domains/${a.id}/keys/${keyId}`;
    const key = await api.call('GET', keyUrl);
    expect(key.statusCode, key.body).toBe(200);
    expect(key.json()).not.toHaveProperty('key');
    expect((await api.call('DELETE', keyUrl, { headers: { 'if-match': '"nope"' } })).statusCode).toBe(412);
    expect((await api.call('GET', keyUrl)).json()).toMatchObject({ revokedAt: null });
    const revoked = await api.call('DELETE', keyUrl, {
      headers: { 'if-match': String(key.headers['etag']) },
    });
    expect(revoked.statusCode, revoked.body).toBe(200);

    for (const url of [`/v1/domains/${a.id}/pool`, `/v1/domains/${a.id}/portal`]) {
      const got = await api.call('GET', url);
      expect(got.statusCode, `${url}: ${got.body}`).toBe(200);
      expect(got.headers['etag'], url).toMatch(/^"/);
    }
    const pool = await api.call('GET', `/v1/domains/${a.id}/pool`);
    const stalePool = await api.call('PUT', `/v1/domains/${a.id}/pool`, {
      body: { quotas: { postgres: 1 } },
      headers: { 'if-match': '"nope"' },
    });
    expect(stalePool.statusCode).toBe(412);
    expect((await api.call('GET', `/v1/domains/${a.id}/pool`)).headers['etag']).toBe(pool.headers['etag']);

    const vol = await api.call('POST', `/v1/domains/${a.id}/volumes`, {
      token: a.key,
      body: { name: slug('v'), sizeBytes: 4096 },
    });
    expect(vol.statusCode, vol.body).toBe(201);
    const volUrl = `/v1/domains/${a.id}/volumes/${vol.json<{ id: string }>().id}`;
    const v = await api.call('GET', volUrl, { token: a.key });
    expect(v.headers['etag']).toMatch(/^"/);
    expect(
      (await api.call('DELETE', volUrl, { token: a.key, headers: { 'if-match': '"nope"' } })).statusCode,
    ).toBe(412);
    expect((await api.call('GET', volUrl, { token: a.key })).json()).toEqual(v.json());

    const principals = await api.call('GET', `/v1/domains/${a.id}/principals`);
    const principal = principals.json<{ items: { id: string }[] }>().items[0]!;
    const pUrl = `/v1/domains/${a.id}/principals/${principal.id}`;
    const p = await api.call('GET', pUrl);
    expect(p.statusCode, p.body).toBe(200);
    expect(p.json()).toEqual(principal);
    expect(
      (await api.call('POST', `${pUrl}/disable`, { headers: { 'if-match': '"nope"' } })).statusCode,
    ).toBe(412);
    expect((await api.call('GET', pUrl)).json()).toEqual(principal);
    // B's principal through A's path: 404, as an unknown one.
    const bPrincipal = (await api.call('GET', `/v1/domains/${b.id}/principals`)).json<{
      items: { id: string }[];
    }>().items[0]!;
    expect((await api.call('GET', `/v1/domains/${a.id}/principals/${bPrincipal.id}`)).statusCode).toBe(404);
  });

  it('makes one of two concurrent changes sent with the same If-Match and answers the other 412', async () => {
    // On PostgreSQL the second change comes through a second server on the same database, as behind a
    // load balancer: only the lock in the database can order the two. PGlite has one server per data dir.
    const second = backend.name === 'postgres' ? await buildServer(api.services) : null;
    const other = second === null ? api.call : callerOf(second);
    try {
      const url = `/v1/domains/${a.id}/pool`;
      for (let round = 0; round < 4; round++) {
        const before = await api.call('GET', url);
        const etag = String(before.headers['etag']);
        const [one, two] = await Promise.all([
          api.call('PUT', url, {
            body: { quotas: { storage: 20 + 2 * round } },
            headers: { 'if-match': etag },
          }),
          other('PUT', url, { body: { quotas: { storage: 21 + 2 * round } }, headers: { 'if-match': etag } }),
        ]);
        expect([one.statusCode, two.statusCode].sort(), `${one.body} ${two.body}`).toEqual([200, 412]);
        const won = one.statusCode === 200 ? one : two;
        const after = await api.call('GET', url);
        expect(after.json()).toEqual(won.json());
        expect(after.headers['etag']).not.toBe(etag);
      }
    } finally {
      await second?.close();
    }
  });

  it('declares the headers and 304/412 answers in the OpenAPI document', async () => {
    const doc = (await api.call('GET', '/openapi.json', { token: null })).json<{
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; in: string }[]; responses: object }>
      >;
    }>();
    const get = doc.paths['/v1/domains/{domainId}/instances/{instanceId}']!['get']!;
    expect(get.parameters?.some((p) => p.in === 'header' && p.name === 'if-none-match')).toBe(true);
    expect(Object.keys(get.responses)).toContain('304');
    const del = doc.paths['/v1/domains/{domainId}/instances/{instanceId}']!['delete']!;
    expect(del.parameters?.some((p) => p.in === 'header' && p.name === 'if-match')).toBe(true);
    expect(Object.keys(del.responses)).toContain('412');
  });
});
