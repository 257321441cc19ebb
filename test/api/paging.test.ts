// Cursor paging on both store backends: a domain's lists (and the operator's) come in pages of `limit`, oldest first, with a
// `next` cursor and a Link header that walk every item exactly once; an altered cursor, or one from another
// list or domain, is 400 and shows nothing; another domain's list stays 404 whatever the cursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';
import { comparable, createTenant, type Tenant } from '../helpers/tenants.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;

interface PageBody {
  items: { id: string; createdAt: string }[];
  next: string | null;
}

describe.each(backends)('paging on $name', (backend) => {
  let api: TestApi;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createTenant(api.app, operatorToken, slug('page-a'));
    b = await createTenant(api.app, operatorToken, slug('page-b'));
    for (const t of [a, b]) {
      for (let i = 0; i < 5; i++) {
        const res = await api.call('POST', `/v1/domains/${t.id}/instances`, {
          token: t.key,
          body: { name: slug('i') },
        });
        expect(res.statusCode, res.body).toBe(201);
        await api.call('POST', `/v1/domains/${t.id}/keys`, { body: {} });
      }
    }
  });
  afterAll(async () => {
    await api.close();
  });

  /** Every page of a list, following `next`, and checking the Link header says the same. */
  const walk = async (url: string, token: string | undefined, limit: number) => {
    const pages: PageBody[] = [];
    let next: string | null = `${url}?limit=${limit}`;
    while (next !== null) {
      const res = await api.call('GET', next, token === undefined ? {} : { token });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<PageBody>();
      pages.push(body);
      expect(body.items.length).toBeLessThanOrEqual(limit);
      if (body.next === null) {
        expect(res.headers['link']).toBeUndefined();
        next = null;
      } else {
        const link = /^<([^>]+)>; rel="next"$/.exec(String(res.headers['link']));
        expect(link, String(res.headers['link'])).not.toBeNull();
        expect(new URL(link![1]!, 'http://x').searchParams.get('cursor')).toBe(body.next);
        next = link![1]!;
      }
    }
    return pages;
  };

  it('walks every list in stable pages, each item once, oldest first', async () => {
    for (const [path, token] of [
      [`/v1/domains/${a.id}/instances`, a.key],
      [`/v1/domains/${a.id}/keys`, undefined],
      [`/v1/domains/${a.id}/principals`, undefined],
      [`/v1/domains/${a.id}/resources`, a.key],
      [`/v1/domains/${a.id}/volumes`, a.key],
      [`/v1/domains/${a.id}/oauth-clients`, undefined],
    ] as const) {
      const all = (await api.call('GET', path, token === undefined ? {} : { token })).json<PageBody>();
      expect(all.next, path).toBeNull();
      const pages = await walk(path, token, 2);
      const walked = pages.flatMap((p) => p.items);
      expect(
        walked.map((i) => i.id),
        path,
      ).toEqual(all.items.map((i) => i.id));
      expect(new Set(walked.map((i) => i.id)).size).toBe(walked.length);
      const keys = walked.map((i) => `${i.createdAt} ${i.id}`);
      expect(keys).toEqual([...keys].sort());
    }
    const instances = await walk(`/v1/domains/${a.id}/instances`, a.key, 2);
    expect(instances.map((p) => p.items.length)).toEqual([2, 2, 1]);
    // Every item is A's.
    for (const p of instances) for (const i of p.items) expect(i).toMatchObject({ domainId: a.id });
  });

  it('pages the operator lists of domains and audit events with next and Link, and keeps their old parameters', async () => {
    const ids = (body: { items: { id: string }[] }) => body.items.map((i) => i.id);
    const domains = (await api.call('GET', '/v1/domains?limit=500')).json<PageBody>();
    expect(domains.next).toBeNull();
    expect((await walk('/v1/domains', undefined, 1)).flatMap(ids)).toEqual(ids(domains));
    const afterFirst = await api.call('GET', `/v1/domains?after=${domains.items[0]!.id}&limit=500`);
    expect(ids(afterFirst.json<PageBody>())).toEqual(ids(domains).slice(1));

    // A filtered list: every page keeps the filter, and the pages give each event once, in seq order.
    type Events = { items: { seq: number; domainId: string | null }[]; next: string | null };
    const all = (await api.call('GET', `/v1/audit?domainId=${a.id}&limit=1000`)).json<Events>();
    expect(all.items.length).toBeGreaterThan(3);
    const seqs: number[] = [];
    let url: string | null = `/v1/audit?domainId=${a.id}&limit=3`;
    while (url !== null) {
      const res = await api.call('GET', url);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json<Events>();
      for (const e of page.items) expect(e.domainId).toBe(a.id);
      seqs.push(...page.items.map((e) => e.seq));
      url = page.next === null ? null : /^<([^>]+)>; rel="next"$/.exec(String(res.headers['link']))![1]!;
      if (url !== null) expect(new URL(url, 'http://x').searchParams.get('domainId')).toBe(a.id);
    }
    expect(seqs).toEqual(all.items.map((e) => e.seq));
    const old = await api.call('GET', `/v1/audit?domainId=${a.id}&after=${seqs[1]!}&limit=2`);
    expect(old.json<Events>().items.map((e) => e.seq)).toEqual(seqs.slice(2, 4));

    // A cursor of one operator list is no cursor of another.
    const auditCursor = (await api.call('GET', '/v1/audit?limit=1')).json<Events>().next!;
    const crossed = await api.call('GET', `/v1/domains?cursor=${auditCursor}`);
    expect(crossed.statusCode).toBe(400);
    expect(crossed.json()).toMatchObject({ code: 'invalid_cursor' });
    expect((await api.call('GET', '/v1/audit?limit=1001')).statusCode).toBe(400);
  });

  it('refuses an altered cursor, a cursor of another list, and a limit beyond the maximum with 400', async () => {
    const first = (
      await api.call('GET', `/v1/domains/${a.id}/instances?limit=1`, { token: a.key })
    ).json<PageBody>();
    const cursor = first.next!;
    const [body, mac] = cursor.split('.') as [string, string];
    const flipped = `${body.slice(0, -1)}${body.endsWith('A') ? 'B' : 'A'}.${mac}`;
    for (const bad of [flipped, `${body}.${mac.slice(0, -1)}x`, 'not-a-cursor', `${body}.`]) {
      const res = await api.call('GET', `/v1/domains/${a.id}/instances?cursor=${encodeURIComponent(bad)}`, {
        token: a.key,
      });
      expect(res.statusCode, `${bad}: ${res.body}`).toBe(400);
    }
    const other = await api.call('GET', `/v1/domains/${a.id}/volumes?cursor=${cursor}`, { token: a.key });
    expect(other.statusCode).toBe(400);
    expect(other.json()).toMatchObject({ code: 'invalid_cursor' });
    const big = await api.call('GET', `/v1/domains/${a.id}/instances?limit=501`, { token: a.key });
    expect(big.statusCode).toBe(400);
  });

  it("gives nothing of A for A's cursor in B's list, and keeps B's list 404 to A whatever the cursor", async () => {
    const aCursor = (
      await api.call('GET', `/v1/domains/${a.id}/instances?limit=1`, { token: a.key })
    ).json<PageBody>().next!;
    // B's own key with A's cursor: refused, and nothing of A in the answer.
    const inB = await api.call('GET', `/v1/domains/${b.id}/instances?cursor=${aCursor}`, { token: b.key });
    expect(inB.statusCode).toBe(400);
    expect(inB.json()).toMatchObject({ code: 'invalid_cursor' });
    expect(inB.body).not.toContain(a.id);
    // The operator reading B's list with A's cursor: the same.
    const operator = await api.call('GET', `/v1/domains/${b.id}/keys?cursor=${aCursor}`);
    expect(operator.statusCode).toBe(400);

    const bCursor = (
      await api.call('GET', `/v1/domains/${b.id}/instances?limit=1`, { token: b.key })
    ).json<PageBody>().next!;
    for (const credential of ['key', 'token'] as const) {
      const foreign = await api.call('GET', `/v1/domains/${b.id}/instances?cursor=${bCursor}`, {
        tenant: a,
        credential,
      });
      const unknown = await api.call(
        'GET',
        `/v1/domains/dom_00000000000000000000000000/instances?cursor=${bCursor}`,
        { tenant: a, credential },
      );
      expect(foreign.statusCode).toBe(404);
      expect(comparable(foreign)).toEqual(comparable(unknown));
      // B's cursor on A's own list: refused, nothing of B's.
      const own = await api.call('GET', `/v1/domains/${a.id}/instances?cursor=${bCursor}`, {
        tenant: a,
        credential,
      });
      expect(own.statusCode).toBe(400);
      expect(own.body).not.toContain(b.id);
    }
  });

  it('declares limit, cursor and next in the OpenAPI document', async () => {
    const doc = (await api.call('GET', '/openapi.json', { token: null })).json<{
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
    }>();
    for (const path of [
      '/v1/domains/{domainId}/keys',
      '/v1/domains/{domainId}/resources',
      '/v1/domains/{domainId}/principals',
      '/v1/domains/{domainId}/instances',
      '/v1/domains/{domainId}/volumes',
      '/v1/domains/{domainId}/oauth-clients',
      '/v1/grants',
      '/v1/domains',
      '/v1/audit',
      '/v1/domains/{domainId}/invoices',
      '/v1/verify/runs',
    ]) {
      const names = (doc.paths[path]!['get']!.parameters ?? [])
        .filter((p) => p.in === 'query')
        .map((p) => p.name);
      expect(names, path).toEqual(expect.arrayContaining(['limit', 'cursor']));
    }
  });
});
