// Idempotency-Key on every create, on both store backends: the same key and body answer the first answer
// again and create nothing more (issuing a key twice made two keys before), another body is 422, a
// duplicate sent meanwhile runs once, and a key is one credential's in one domain: B's identical key, or
// A's key used against B, neither replays nor reveals anything of the other.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  purgeIdempotentRequests,
  renewIdempotencyClaim,
  type HeldClaim,
} from '../../src/store/repositories/idempotent-requests.js';
import { asOwner, backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';
import { comparable, createTenant, domainState, type Tenant } from '../helpers/tenants.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;

describe.each(backends)('Idempotency-Key on $name', (backend) => {
  let api: TestApi;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createTenant(api.app, operatorToken, slug('idem-a'));
    b = await createTenant(api.app, operatorToken, slug('idem-b'));
  });
  afterAll(async () => {
    await api.close();
  });

  const keyCount = async (domainId: string) =>
    (await api.call('GET', `/v1/domains/${domainId}/keys`)).json<{ items: unknown[] }>().items.length;

  it('issues one key for a key issued twice with the same Idempotency-Key, and answers the same secret', async () => {
    const before = await keyCount(a.id);
    const headers = { 'idempotency-key': `issue-${slug('k')}` };
    const first = await api.call('POST', `/v1/domains/${a.id}/keys`, { body: { name: 'ci' }, headers });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replay']).toBeUndefined();
    const again = await api.call('POST', `/v1/domains/${a.id}/keys`, { body: { name: 'ci' }, headers });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replay']).toBe('true');
    expect(again.body).toBe(first.body);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(await keyCount(a.id)).toBe(before + 1);
    // The key the replay shows is the one that works.
    const { key } = again.json<{ key: string }>();
    expect((await api.call('GET', '/v1/whoami', { token: key })).statusCode).toBe(200);

    // The answer kept in the store is sealed: the secret is not in it.
    const rows = await asOwner(api.services.store, (tx) =>
      sql<{ body: string }>`SELECT body FROM idempotent_requests WHERE domain_id = ${a.id}`.execute(tx),
    );
    expect(rows.rows.length).toBeGreaterThan(0);
    for (const row of rows.rows) expect(row.body).not.toContain(key);
  });

  it('answers the same key with another body 422 idempotency_key_reused and creates nothing', async () => {
    const headers = { 'idempotency-key': `reuse-${slug('k')}` };
    const first = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name: slug('i') },
      headers,
    });
    expect(first.statusCode, first.body).toBe(201);
    const before = await domainState(api.services, a.id);
    const other = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name: slug('j') },
      headers,
    });
    expect(other.statusCode, other.body).toBe(422);
    expect(other.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    // The same key on another create is another request too.
    const elsewhere = await api.call('POST', `/v1/domains/${a.id}/volumes`, {
      token: a.key,
      body: { name: slug('v'), sizeBytes: 4096 },
      headers,
    });
    expect(elsewhere.statusCode).toBe(422);
    const after = await domainState(api.services, a.id);
    expect(after['instances']).toEqual(before['instances']);
    expect(after['volumes']).toEqual(before['volumes']);
  });

  it('runs concurrent duplicates once', async () => {
    const before = await keyCount(b.id);
    const headers = { 'idempotency-key': `race-${slug('k')}` };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api.call('POST', `/v1/domains/${b.id}/keys`, { body: {}, headers })),
    );
    const created = answers.filter((r) => r.statusCode === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of answers) {
      expect([201, 409], r.body).toContain(r.statusCode);
      if (r.statusCode === 409) expect(r.json()).toMatchObject({ code: 'idempotency_conflict' });
    }
    expect(new Set(created.map((r) => r.body)).size).toBe(1);
    expect(await keyCount(b.id)).toBe(before + 1);
  });

  it('keeps keys per credential and domain: B reusing A’s key creates its own, and A’s key on B is 404', async () => {
    const key = `shared-${slug('k')}`;
    const name = slug('same');
    const inA = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name },
      headers: { 'idempotency-key': key },
    });
    expect(inA.statusCode, inA.body).toBe(201);
    const inB = await api.call('POST', `/v1/domains/${b.id}/instances`, {
      token: b.key,
      body: { name },
      headers: { 'idempotency-key': key },
    });
    expect(inB.statusCode, inB.body).toBe(201);
    expect(inB.headers['idempotent-replay']).toBeUndefined();
    expect(inB.json<{ id: string }>().id).not.toBe(inA.json<{ id: string }>().id);
    expect(inB.json()).toMatchObject({ domainId: b.id });

    // A's credential at B's path with the key B used: refused as an unknown domain would be, nothing of B's.
    const before = await domainState(api.services, b.id);
    for (const credential of ['key', 'token'] as const) {
      const foreign = await api.call('POST', `/v1/domains/${b.id}/instances`, {
        tenant: a,
        credential,
        body: { name },
        headers: { 'idempotency-key': key },
      });
      const unknown = await api.call('POST', '/v1/domains/dom_00000000000000000000000000/instances', {
        tenant: a,
        credential,
        body: { name },
        headers: { 'idempotency-key': key },
      });
      expect(foreign.statusCode).toBe(404);
      expect(comparable(foreign)).toEqual(comparable(unknown));
      expect(foreign.body).not.toContain(inB.json<{ id: string }>().id);
    }
    expect(await domainState(api.services, b.id)).toEqual(before);

    // The operator's own key of the same text in A is the operator's, not A's key's.
    const byOperator = await api.call('POST', `/v1/domains/${a.id}/principals`, {
      body: { kind: 'service' },
      headers: { 'idempotency-key': key },
    });
    expect(byOperator.statusCode, byOperator.body).toBe(201);
    expect(byOperator.headers['idempotent-replay']).toBeUndefined();
  });

  it('makes domains and grants, which name no domain yet, once per key', async () => {
    const headers = { 'idempotency-key': `domain-${slug('k')}` };
    const body = { slug: slug('idem-dom'), name: 'Once' };
    const first = await api.call('POST', '/v1/domains', { body, headers });
    expect(first.statusCode, first.body).toBe(201);
    const again = await api.call('POST', '/v1/domains', { body, headers });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replay']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(again.headers['location']).toBe(first.headers['location']);
    const other = await api.call('POST', '/v1/domains', { body: { ...body, name: 'Twice' }, headers });
    expect(other.statusCode).toBe(422);
  });

  it('runs a failed create again: only answers that succeeded are kept', async () => {
    const headers = { 'idempotency-key': `fail-${slug('k')}` };
    const bad = await api.call('POST', `/v1/domains/${a.id}/volumes`, {
      token: a.key,
      body: { name: slug('v'), sizeBytes: 2 ** 52 },
      headers,
    });
    expect(bad.statusCode).toBeGreaterThanOrEqual(400);
    const name = slug('v');
    const good = await api.call('POST', `/v1/domains/${a.id}/volumes`, {
      token: a.key,
      body: { name, sizeBytes: 4096 },
      headers,
    });
    expect(good.statusCode, good.body).toBe(201);
  });

  it('refuses a malformed key with 400 and forgets answers older than 24 hours', async () => {
    const bad = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name: slug('i') },
      headers: { 'idempotency-key': 'has space' },
    });
    expect(bad.statusCode).toBe(400);

    const headers = { 'idempotency-key': `old-${slug('k')}` };
    const name = slug('i');
    const first = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name },
      headers,
    });
    expect(first.statusCode).toBe(201);
    await asOwner(api.services.store, (tx) =>
      sql`UPDATE idempotent_requests SET created_at = created_at - interval '25 hours'
          WHERE key = ${headers['idempotency-key']}`.execute(tx),
    );
    const purged = await api.services.store.system('reconciler', (tx) =>
      purgeIdempotentRequests(tx, new Date(Date.now() - 24 * 3600 * 1000)),
    );
    expect(purged).toBeGreaterThanOrEqual(1);
    // Run again: the name is taken now, so the create itself answers.
    const again = await api.call('POST', `/v1/domains/${a.id}/instances`, {
      token: a.key,
      body: { name },
      headers,
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'name_taken' });
  });

  it('holds a running claim with a lease its server renews, and lets a retry take over one that ran out', async () => {
    const headers = { 'idempotency-key': `lease-${slug('k')}` };
    const name = slug('i');
    const send = () =>
      api.call('POST', `/v1/domains/${a.id}/instances`, { token: a.key, body: { name }, headers });
    const first = await send();
    expect(first.statusCode, first.body).toBe(201);
    const claim = (set: ReturnType<typeof sql>) =>
      asOwner(api.services.store, (tx) =>
        sql`UPDATE idempotent_requests SET ${set} WHERE key = ${headers['idempotency-key']}`.execute(tx),
      );
    // As if the server answering it had stopped before keeping the answer, its lease still running.
    await claim(sql`status = NULL, body = NULL, headers = NULL, claimed_until = now() + interval '1 minute'`);
    const running = await send();
    expect(running.statusCode).toBe(409);
    expect(running.headers['retry-after']).toBe('1');
    expect(running.json()).toMatchObject({ code: 'idempotency_conflict' });

    // A renewal holds only the claim it was made for: not another credential's, not a later claim's.
    const leased = () =>
      asOwner(api.services.store, async (tx) => {
        const { rows } = await sql<{ credential: string; created_at: Date; claimed_until: Date }>`
          SELECT credential, created_at, claimed_until FROM idempotent_requests
          WHERE key = ${headers['idempotency-key']}`.execute(tx);
        return rows[0]!;
      });
    const { credential, created_at: claimedAt } = await leased();
    const key = headers['idempotency-key'];
    const later = new Date(Date.now() + 10 * 60_000);
    const renew = (held: HeldClaim) =>
      api.services.store.withDomain(a.id, (tx) =>
        renewIdempotencyClaim({ kind: 'domain', tx, domainId: a.id }, held, later),
      );
    await renew({ credential: `${credential}-other`, key, claimedAt });
    await renew({ credential, key, claimedAt: new Date(claimedAt.getTime() - 1) });
    expect((await leased()).claimed_until.getTime()).toBeLessThan(later.getTime());
    await renew({ credential, key, claimedAt });
    expect((await leased()).claimed_until.getTime()).toBe(later.getTime());

    // The lease ran out: the retry runs afresh, and the create itself answers (the name is taken now).
    await claim(sql`claimed_until = now() - interval '1 second'`);
    const retried = await send();
    expect(retried.statusCode, retried.body).toBe(409);
    expect(retried.json()).toMatchObject({ code: 'name_taken' });
  });

  it('declares the header on every create in the OpenAPI document', async () => {
    const doc = (await api.call('GET', '/openapi.json', { token: null })).json<{
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
    }>();
    for (const path of [
      '/v1/domains',
      '/v1/domains/{domainId}/keys',
      '/v1/domains/{domainId}/principals',
      '/v1/domains/{domainId}/instances',
      '/v1/domains/{domainId}/volumes',
      '/v1/grants',
      '/v1/domains/{domainId}/oauth-clients',
      '/v1/domains/{domainId}/usage',
      '/v1/domains/{domainId}/resources',
    ]) {
      const post = doc.paths[path]!['post']!;
      expect(
        post.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key'),
        path,
      ).toBe(true);
    }
  });
});
