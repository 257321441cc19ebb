// Provisioning through the API with the real PostgreSQL and storage providers: the happy path, quotas,
// scopes, idempotency, races with revocation, and domain A's key against every route of domain B.
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { verifiesScram } from '../../src/providers/postgres/postgres-password.js';
import { asOwner, backends, testPostgresUrl } from '../helpers/backends.js';
import { callerOf, createDomainWithKey, openProvidedApi, operatorToken, unique } from '../helpers/api.js';
import type { TestProviders } from '../helpers/providers.js';
import { attackWithOtherKindKey } from '../helpers/scope-attack.js';
import { comparable } from '../helpers/tenants.js';

interface Resource {
  id: string;
  domainId: string;
  kind: string;
  name: string;
  status: string;
}

const unknownResource = 'res_00000000000000000000000000';
const unknownDomain = 'dom_00000000000000000000000000';

describe.each(backends)('resources on a $name store', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let providers: TestProviders;
  let app: App;

  const call = callerOf(() => app);
  const domainWithKey = (scopes?: string[]) =>
    createDomainWithKey(call, { slug: unique('res'), name: 'r', scopes });

  async function create(
    domain: { id: string; key: string },
    kind: string,
    name: string,
    headers: Record<string, string> = {},
  ) {
    return call('POST', `/v1/domains/${domain.id}/resources`, {
      token: domain.key,
      body: { kind, name },
      headers,
    });
  }

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, { leaseMs: 5_000 }));
  });

  afterAll(async () => {
    // Delete every domain so the reconciler removes every role, database and directory made here.
    const domains = await services.domains.list({ limit: 500 });
    for (const d of domains) await services.domains.delete({ actor: 'test', requestId: null }, d.id);
    await services.provisioner.reconcile();
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('provisions a postgres database the tenant can use with the returned credentials', async () => {
    const a = await domainWithKey();
    const res = await create(a, 'postgres', 'orders');
    expect(res.statusCode, res.body).toBe(201);
    const resource = res.json<Resource>();
    expect(resource).toMatchObject({ kind: 'postgres', name: 'orders', status: 'ready', domainId: a.id });

    const creds = await call('GET', `/v1/domains/${a.id}/resources/${resource.id}/credentials`, {
      token: a.key,
    });
    expect(creds.statusCode, creds.body).toBe(200);
    const { url } = creds.json<{ url: string }>();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE orders (id int PRIMARY KEY, item text)');
      await client.query("INSERT INTO orders VALUES (1, 'widget')");
      expect((await client.query('SELECT item FROM orders')).rows).toEqual([{ item: 'widget' }]);
    } finally {
      await client.end();
    }
    const events = await asOwner(services.store, (tx) => listAudit(tx, { domainId: a.id, limit: 1000 }));
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['resource.create', 'resource.ready', 'resource.credentials']),
    );
    expect(JSON.stringify(events)).not.toContain(url);
    const stored = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('resources')
        .select('credentials')
        .where('id', '=', resource.id)
        .executeTakeFirstOrThrow(),
    );
    expect(stored.credentials).not.toContain(new URL(url).password);
  });

  it('rotates credentials: the old password stops working, the new one works, and it is audited', async () => {
    const a = await domainWithKey();
    const resource = (await create(a, 'postgres', 'rotated')).json<Resource>();
    const path = `/v1/domains/${a.id}/resources/${resource.id}/credentials`;
    const old = (await call('GET', path, { token: a.key })).json<{ url: string }>().url;
    const rotated = await call('POST', `${path}/rotate`, { token: a.key });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const fresh = rotated.json<{ url: string }>().url;
    expect(new URL(fresh).password).not.toBe(new URL(old).password);
    // The stored credentials are the new ones.
    expect((await call('GET', path, { token: a.key })).json<{ url: string }>().url).toBe(fresh);
    const works = new pg.Client({ connectionString: fresh });
    await works.connect();
    expect((await works.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await works.end();
    // The role's stored verifier now accepts the new password only (this server trusts local logins, so
    // the check is made against the verifier a password-checking server would use).
    const role = decodeURIComponent(new URL(fresh).username);
    const admin = new pg.Client({ connectionString: testPostgresUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ rolpassword: string }>(
        'SELECT rolpassword FROM pg_authid WHERE rolname = $1',
        [role],
      );
      const verifier = rows[0]!.rolpassword;
      expect(await verifiesScram(decodeURIComponent(new URL(fresh).password), verifier)).toBe(true);
      expect(await verifiesScram(decodeURIComponent(new URL(old).password), verifier)).toBe(false);
    } finally {
      await admin.end();
    }
    // The operator cannot rotate (tenant secrets never go to the operator), nor the key of a deleted resource.
    expect((await call('POST', `${path}/rotate`, { token: operatorToken })).statusCode).toBe(403);
    expect(
      (await call('DELETE', `/v1/domains/${a.id}/resources/${resource.id}`, { token: a.key })).statusCode,
    ).toBe(200);
    const gone = await call('POST', `${path}/rotate`, { token: a.key });
    expect(gone.statusCode).toBe(409);
    expect(gone.json<{ code: string }>().code).toBe('resource_not_ready');
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: a.id, action: 'resource.credentials_rotated', limit: 10 }),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ target: resource.id, outcome: 'success' });
    expect(JSON.stringify(events)).not.toContain(new URL(fresh).password);
  });

  it('stores, reads and deletes objects in a storage resource', async () => {
    const a = await domainWithKey();
    const resource = (await create(a, 'storage', 'files')).json<Resource>();
    expect(resource.status).toBe('ready');
    const base = `/v1/domains/${a.id}/resources/${resource.id}/objects`;
    const body = Buffer.from('hello, compartment');
    const put = await call('PUT', `${base}/reports/2026/q3.txt`, {
      token: a.key,
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({ key: 'reports/2026/q3.txt', size: body.length });
    const json = await call('PUT', `${base}/data.json`, {
      token: a.key,
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(json.statusCode, json.body).toBe(200);
    const get = await call('GET', `${base}/reports/2026/q3.txt`, { token: a.key });
    expect(get.statusCode).toBe(200);
    expect(get.rawPayload.equals(body)).toBe(true);
    expect(
      (await call('GET', `/v1/domains/${a.id}/resources/${resource.id}`, { token: a.key })).json(),
    ).toMatchObject({
      usedBytes: body.length + 7,
    });
    expect((await call('DELETE', `${base}/reports/2026/q3.txt`, { token: a.key })).statusCode).toBe(204);
    expect((await call('GET', `${base}/reports/2026/q3.txt`, { token: a.key })).json()).toMatchObject({
      code: 'not_found',
    });
    // Deleting again is deleting a key that holds nothing: the same 204 (docs/api.md, "Deleting twice").
    expect((await call('DELETE', `${base}/reports/2026/q3.txt`, { token: a.key })).statusCode).toBe(204);
    expect((await call('GET', `${base}/reports/2026/q3.txt`, { token: a.key })).json()).toMatchObject({
      code: 'not_found',
    });
  });

  it('refuses an object over the size limit or the storage quota, and keeps nothing of it', async () => {
    const a = await domainWithKey();
    const resource = (await create(a, 'storage', 'big')).json<Resource>();
    const base = `/v1/domains/${a.id}/resources/${resource.id}/objects`;
    const tooBig = await call('PUT', `${base}/huge`, {
      token: a.key,
      body: Buffer.alloc(4 * 1024 * 1024 + 1),
    });
    expect(tooBig.statusCode).toBe(413);
    expect((await call('GET', `${base}/huge`, { token: a.key })).statusCode).toBe(404);
    await call('PUT', `/v1/domains/${a.id}/pool`, {
      token: operatorToken,
      body: { quotas: { storageBytes: 1000 } },
    });
    const overQuota = await call('PUT', `${base}/medium`, { token: a.key, body: Buffer.alloc(1500) });
    expect(overQuota.json()).toMatchObject({ code: 'quota_exceeded' });
    expect((await call('GET', `${base}/medium`, { token: a.key })).statusCode).toBe(404);
    expect((await call('PUT', `${base}/small`, { token: a.key, body: Buffer.alloc(500) })).statusCode).toBe(
      200,
    );
  });

  it('enforces the per-kind quota inside the reservation, allocating nothing over it', async () => {
    const a = await domainWithKey();
    await call('PUT', `/v1/domains/${a.id}/pool`, { token: operatorToken, body: { quotas: { storage: 2 } } });
    expect((await create(a, 'storage', 's1')).statusCode).toBe(201);
    expect((await create(a, 'storage', 's2')).statusCode).toBe(201);
    const third = await create(a, 'storage', 's3');
    expect(third.statusCode).toBe(409);
    expect(third.json()).toMatchObject({ code: 'quota_exceeded' });
    const owned = (await providers.providers.get('storage')!.listOwned()).filter(
      (o) => o.ref.domainId === a.id,
    );
    expect(owned).toHaveLength(2);
  });

  it('answers a repeated Idempotency-Key with the first answer and refuses it for a different request', async () => {
    const a = await domainWithKey();
    const first = await create(a, 'storage', 'idem', { 'idempotency-key': 'req-1' });
    const again = await create(a, 'storage', 'idem', { 'idempotency-key': 'req-1' });
    expect(first.statusCode).toBe(201);
    // The shared Idempotency-Key rule (docs/api.md): the first answer again, status and all.
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replay']).toBe('true');
    expect(again.json<Resource>().id).toBe(first.json<Resource>().id);
    expect(again.headers['location']).toBe(first.headers['location']);
    const other = await create(a, 'storage', 'other', { 'idempotency-key': 'req-1' });
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'idempotency_key_reused' });
    expect(
      (await call('GET', `/v1/domains/${a.id}/resources`, { token: a.key })).json<{ items: unknown[] }>()
        .items,
    ).toHaveLength(1);
  });

  it('finds the resource by its key when the kept answer is lost, and provisions it once', async () => {
    const a = await domainWithKey();
    const first = await create(a, 'storage', 'lost', { 'idempotency-key': 'req-lost' });
    expect(first.statusCode).toBe(201);
    // As after a crash between the reservation and keeping the answer: the claim is gone, the row stays.
    await asOwner(services.store, (tx) =>
      tx.deleteFrom('idempotent_requests').where('domain_id', '=', a.id).execute(),
    );
    const again = await create(a, 'storage', 'lost', { 'idempotency-key': 'req-lost' });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json<Resource>().id).toBe(first.json<Resource>().id);
    const owned = (await providers.providers.get('storage')!.listOwned()).filter(
      (o) => o.ref.domainId === a.id,
    );
    expect(owned).toHaveLength(1);
  });

  it('refuses a kind the key is not scoped for, a taken name, and an unsupported kind', async () => {
    const a = await domainWithKey(['storage']);
    expect((await create(a, 'postgres', 'nope')).json()).toMatchObject({ code: 'scope_denied' });
    expect((await create(a, 'storage', 'dup')).statusCode).toBe(201);
    expect((await create(a, 'storage', 'dup')).json()).toMatchObject({ code: 'name_taken' });
    const b = await domainWithKey();
    expect((await create(b, 'redis', 'cache')).json()).toMatchObject({ code: 'unsupported_kind' });
    expect((await create(b, 'storage', 'Bad_Name')).json()).toMatchObject({ code: 'invalid_request' });
    expect((await create(b, 'mainframe', 'x')).statusCode).toBe(400);
  });

  it("refuses a key scoped for storage only the postgres resource's credentials, rotation and deletion, and the database stays as it was", async () => {
    const a = await domainWithKey();
    const res = await create(a, 'postgres', 'ledger');
    expect(res.statusCode, res.body).toBe(201);
    const resource = res.json<Resource>();
    const creds = await call('GET', `/v1/domains/${a.id}/resources/${resource.id}/credentials`, {
      token: a.key,
    });
    const { url, password } = creds.json<{ url: string; password: string }>();
    const query = async (text: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<Record<string, unknown>>(text)).rows;
      } finally {
        await client.end();
      }
    };
    await query("CREATE TABLE ledger (entry text); INSERT INTO ledger VALUES ('kept')");
    await attackWithOtherKindKey({
      call,
      domainId: a.id,
      resourceId: resource.id,
      kind: 'postgres',
      secret: password,
      intact: async () => expect(await query('SELECT entry FROM ledger')).toEqual([{ entry: 'kept' }]),
    });
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: a.id, action: 'access.scope_denied', limit: 100 }),
    );
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.map((e) => e.detail['action'])).toEqual(
      expect.arrayContaining(['credentials', 'rotate', 'delete']),
    );
    expect(events.every((e) => e.target === resource.id && e.outcome === 'denied')).toBe(true);
  });

  it('gives credentials and objects only to the domain’s own key, never the operator', async () => {
    const a = await domainWithKey();
    const resource = (await create(a, 'storage', 'private')).json<Resource>();
    expect(
      (
        await call('GET', `/v1/domains/${a.id}/resources/${resource.id}/credentials`, {
          token: operatorToken,
        })
      ).json(),
    ).toMatchObject({ code: 'key_required' });
    expect(
      (
        await call('GET', `/v1/domains/${a.id}/resources/${resource.id}/objects/x`, { token: operatorToken })
      ).json(),
    ).toMatchObject({ code: 'key_required' });
    expect(
      (await call('GET', `/v1/domains/${a.id}/resources/${resource.id}`, { token: operatorToken }))
        .statusCode,
    ).toBe(200);
  });

  it("answers domain A's key on every resource route of domain B exactly as for nothing, and changes nothing of B", async () => {
    const a = await domainWithKey();
    const b = await domainWithKey();
    const bDb = (await create(b, 'postgres', 'b-db')).json<Resource>();
    const bFiles = (await create(b, 'storage', 'b-files')).json<Resource>();
    const secret = Buffer.from('B-SECRET-DATA');
    expect(
      (
        await call('PUT', `/v1/domains/${b.id}/resources/${bFiles.id}/objects/secret.txt`, {
          token: b.key,
          body: secret,
        })
      ).statusCode,
    ).toBe(200);
    const snapshot = async () => ({
      resources: await asOwner(services.store, (tx) =>
        tx.selectFrom('resources').selectAll().where('domain_id', '=', b.id).orderBy('id').execute(),
      ),
      pool: await asOwner(services.store, (tx) =>
        tx.selectFrom('pools').selectAll().where('domain_id', '=', b.id).execute(),
      ),
    });
    const before = await snapshot();

    const routes: [string, (d: string, r: string) => string, unknown?][] = [
      ['POST', (d) => `/v1/domains/${d}/resources`, { kind: 'storage', name: 'smuggled' }],
      ['GET', (d) => `/v1/domains/${d}/resources`],
      ['GET', (d, r) => `/v1/domains/${d}/resources/${r}`],
      ['GET', (d, r) => `/v1/domains/${d}/resources/${r}/credentials`],
      ['POST', (d, r) => `/v1/domains/${d}/resources/${r}/credentials/rotate`],
      ['DELETE', (d, r) => `/v1/domains/${d}/resources/${r}`],
      ['GET', (d) => `/v1/domains/${d}/pool`],
      ['PUT', (d, r) => `/v1/domains/${d}/resources/${r}/objects/secret.txt`, 'overwrite'],
      ['GET', (d, r) => `/v1/domains/${d}/resources/${r}/objects/secret.txt`],
      ['DELETE', (d, r) => `/v1/domains/${d}/resources/${r}/objects/secret.txt`],
    ];
    for (const [method, path, body] of routes) {
      for (const target of [bDb, bFiles]) {
        const onB = await call(method, path(b.id, target.id), { token: a.key, body });
        const onNothing = await call(method, path(unknownDomain, unknownResource), { token: a.key, body });
        expect(onB.statusCode, `${method} ${path(b.id, target.id)}`).toBe(404);
        expect(comparable(onB)).toEqual(comparable(onNothing));
        // A's own domain id with B's resource id: the resource is B's, so it does not exist here.
        const mixed = await call(method, path(a.id, target.id), { token: a.key, body });
        if (!path(a.id, target.id).endsWith('/pool') && !path(a.id, target.id).endsWith('/resources')) {
          expect(mixed.statusCode, `${method} ${path(a.id, target.id)}`).toBe(404);
          expect(comparable(mixed)).toEqual(
            comparable(await call(method, path(a.id, unknownResource), { token: a.key, body })),
          );
        }
      }
    }
    expect(await snapshot()).toEqual(before);
    const still = await call('GET', `/v1/domains/${b.id}/resources/${bFiles.id}/objects/secret.txt`, {
      token: b.key,
    });
    expect(still.rawPayload.equals(secret)).toBe(true);
    const aList = await call('GET', `/v1/domains/${a.id}/resources`, { token: a.key });
    expect(aList.body).not.toContain(bDb.id);
    const cross = await asOwner(services.store, (tx) =>
      listAudit(tx, {
        domainId: a.id,
        action: 'access.cross_domain',
        limit: 1000,
      }),
    );
    expect(cross.length).toBeGreaterThanOrEqual(routes.length * 2);
  });

  it('never allocates under a key after its revocation commits, even with 50 requests in flight', async () => {
    const a = await domainWithKey(['storage']);
    const b = await domainWithKey(['storage']);
    await call('PUT', `/v1/domains/${b.id}/pool`, {
      token: operatorToken,
      body: { quotas: { storage: 10 } },
    });
    await call('PUT', `/v1/domains/${a.id}/pool`, {
      token: operatorToken,
      body: { quotas: { storage: 50 } },
    });
    const requests: Promise<LightMyRequestResponse>[] = [];
    for (let i = 0; i < 50; i++) {
      const domain = i % 2 === 0 ? a : b;
      // Every fifth request repeats an idempotency key, to race duplicates too.
      const idem = `k-${Math.floor(i / 5)}-${i % 2}`;
      requests.push(
        create(domain, 'storage', `r${i % 2 === 0 ? i : Math.floor(i / 5)}`, { 'idempotency-key': idem }),
      );
      if (i === 20)
        requests.push(call('DELETE', `/v1/domains/${a.id}/keys/${a.keyId}`, { token: operatorToken }));
    }
    const results = await Promise.all(requests);
    for (const r of results) expect(r.statusCode, r.body).toBeLessThan(500);

    const events = await asOwner(services.store, (tx) => listAudit(tx, { limit: 100_000 }));
    const revokedAt = events.find((e) => e.action === 'key.revoke' && e.target === a.keyId)!.seq;
    const aCreates = events.filter(
      (e) => e.action === 'resource.create' && e.outcome === 'success' && e.detail['keyId'] === a.keyId,
    );
    for (const e of aCreates) expect(e.seq).toBeLessThan(revokedAt);
    const aRows = await asOwner(services.store, (tx) =>
      tx.selectFrom('resources').select(['id', 'key_id']).where('domain_id', '=', a.id).execute(),
    );
    expect(aRows.length).toBe(aCreates.length);

    const bRows = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('resources')
        .select(['idempotency_key', 'name'])
        .where('domain_id', '=', b.id)
        .where('status', '<>', 'deleted')
        .execute(),
    );
    expect(bRows.length).toBeLessThanOrEqual(10);
    expect(new Set(bRows.map((r) => r.idempotency_key)).size).toBe(bRows.length);
    const owned = (await providers.providers.get('storage')!.listOwned()).filter(
      (o) => o.ref.domainId === b.id,
    );
    expect(owned.length).toBe(bRows.length);
  });

  it('deprovisions everything of a deleted domain and destroys its data key', async () => {
    const a = await domainWithKey();
    const db = (await create(a, 'postgres', 'gone-db')).json<Resource>();
    const files = (await create(a, 'storage', 'gone-files')).json<Resource>();
    await call('PUT', `/v1/domains/${a.id}/resources/${files.id}/objects/x`, { token: a.key, body: 'data' });
    expect((await call('DELETE', `/v1/domains/${a.id}`, { token: operatorToken })).statusCode).toBe(200);
    await services.provisioner.reconcile();
    const rows = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('resources')
        .select(['id', 'status', 'credentials'])
        .where('domain_id', '=', a.id)
        .execute(),
    );
    expect(rows.every((r) => r.status === 'deleted' && r.credentials === null)).toBe(true);
    for (const provider of providers.providers.values()) {
      expect((await provider.listOwned()).filter((o) => o.ref.domainId === a.id)).toEqual([]);
    }
    const key = await asOwner(services.store, (tx) =>
      tx.selectFrom('domain_keys').selectAll().where('domain_id', '=', a.id).executeTakeFirstOrThrow(),
    );
    expect(key.wrapped_key).toBeNull();
    await expect(services.keyring.dataKey(a.id)).rejects.toThrow();
    void db;
  });
});
