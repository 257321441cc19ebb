// The provisioning path's bookkeeping: every resource's creation and readiness recorded exactly once
// with the audit chain intact, whether the reservation and the ready mark travelled in one message each
// or took the longer way; the key's use recorded once for every answer of the create route, with the
// reservation or on its own; a key revoked while its request waited for the domain refused; and a
// resource that the reconciler finished while the first request still waited on the backend kept.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { openStore } from '../../src/store/store.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { ResourceKind } from '../../src/domain/kinds.js';
import type { Actor } from '../../src/policy/principal.js';
import type { Provider, ResourceRef } from '../../src/providers/provider.js';
import type { KeyPrincipal } from '../../src/provisioner/provisioner.js';
import {
  asOwner,
  backends,
  createTestDatabase,
  openTestServices,
  testSecret,
  untilSomeoneWaitsForALock,
} from '../helpers/backends.js';
import { unique } from '../helpers/api.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { domainWithKeyPrincipal } from '../helpers/tenants.js';

const actor: Actor = { actor: 'operator', requestId: null };

/** The storage provider, with a switch that holds the next `create` until it is let go. */
function holdable(provider: Provider) {
  let hold: { reached: () => void; release: Promise<void> } | null = null;
  const wrapped = new Proxy(provider, {
    get(target, prop) {
      if (prop === 'create') {
        return async (ref: ResourceRef) => {
          const h = hold;
          hold = null;
          if (h !== null) {
            h.reached();
            await h.release;
          }
          return target.create(ref);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    provider: wrapped,
    /** Holds the next create: resolves `reached` when it arrives, and lets it go on `release()`. */
    holdNext() {
      let release!: () => void;
      let reached!: () => void;
      const arrived = new Promise<void>((resolve) => (reached = resolve));
      hold = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
      return { arrived, release };
    },
  };
}

describe.each(backends)('the provisioning path on a $name store', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let providers: TestProviders;
  let storage: ReturnType<typeof holdable>;
  let app: App;
  const leaseMs = 300;

  beforeAll(async () => {
    providers = await openTestProviders();
    storage = holdable(providers.providers.get('storage')!);
    services = await openTestServices(backend, {
      providers: new Map<ResourceKind, Provider>([['storage', storage.provider]]),
      leaseMs,
    });
    providers.bind(services.keyring);
    app = await buildServer(services);
  });

  afterAll(async () => {
    await app.close();
    for (const d of await services.domains.list({ limit: 500 })) {
      await services.domains.delete(actor, d.id);
    }
    await services.provisioner.reconcile();
    await services.drop();
    await providers.providers.get('postgres')!.close();
    providers.remove();
  });

  const domainWithKey = () => domainWithKeyPrincipal(services, actor, unique('path'), 'p');

  const storageQuota = (domainId: string, n: number) =>
    asOwner(services.store, (tx) =>
      tx
        .updateTable('pools')
        .set({ quotas: JSON.stringify({ storage: n }) })
        .where('domain_id', '=', domainId)
        .execute(),
    );

  const create = (d: { id: string; principal: KeyPrincipal }, name: string) =>
    services.provisioner.create({
      principal: d.principal,
      requestId: null,
      domainId: d.id,
      kind: 'storage',
      name,
    });

  const events = (domainId: string, target: string) =>
    asOwner(services.store, (tx) => listAudit(tx, { domainId, limit: 1000 })).then((all) =>
      all.filter((e) => e.target === target).map((e) => `${e.action}:${e.outcome}:${e.actor}`),
    );

  it('records every creation and readiness once, with usable credentials and the chain intact', async () => {
    const d = await domainWithKey();
    // The first resource finds no data key yet (it is made on first use); the later ones find it.
    const made = [];
    for (const name of ['first', 'second', 'third']) made.push((await create(d, name)).resource);
    for (const r of made) {
      expect(r.status).toBe('ready');
      expect(await events(d.id, r.id)).toEqual([
        `resource.create:success:${d.principal.actor}`,
        `resource.ready:success:${d.principal.actor}`,
      ]);
      const credentials = await services.provisioner.credentials(actor, d.id, r.id);
      expect(credentials).toMatchObject({ kind: 'storage' });
    }
    expect(await asOwner(services.store, (tx) => verifyAudit(tx))).toMatchObject({ ok: true });
  });

  it('refuses over quota and records why, allocating nothing', async () => {
    const d = await domainWithKey();
    await storageQuota(d.id, 1);
    await create(d, 'only');
    await expect(create(d, 'second')).rejects.toMatchObject({ code: 'quota_exceeded' });
    const denied = (
      await asOwner(services.store, (tx) => listAudit(tx, { domainId: d.id, limit: 100 }))
    ).filter((e) => e.action === 'resource.create' && e.outcome === 'denied');
    expect(denied.map((e) => e.detail['reason'])).toEqual(['quota']);
    const owned = (await storage.provider.listOwned()).filter((o) => o.ref.domainId === d.id);
    expect(owned).toHaveLength(1);
  });

  it("records the key's use once for every answer of the create route", async () => {
    const a = await domainWithKey();
    const b = await domainWithKey();
    await storageQuota(a.id, 2);
    const post = (domainId: string, body: object, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: `/v1/domains/${domainId}/resources`,
        headers: { authorization: `Bearer ${a.key}`, ...headers },
        payload: body,
      });
    const answers = [
      await post(a.id, { kind: 'storage', name: 'one' }), // 201, reserved in one message
      await post(a.id, { kind: 'storage', name: 'two' }, { 'idempotency-key': 'k1' }), // 201
      await post(a.id, { kind: 'storage', name: 'two' }, { 'idempotency-key': 'k1' }), // 201, the first answer again
      await post(a.id, { kind: 'storage', name: 'three' }), // 409, over the quota
      await post(a.id, { kind: 'storage', name: 'Not A Name' }), // 400, refused before the handler
      await post(b.id, { kind: 'storage', name: 'theirs' }), // 404, another domain's path
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([201, 201, 201, 409, 400, 404]);
    const uses = (
      await asOwner(services.store, (tx) => listAudit(tx, { action: 'key.authenticate', limit: 10_000 }))
    ).filter((e) => e.target === a.principal.keyId);
    for (const r of answers) {
      const id = r.headers['x-request-id'];
      expect(
        uses.filter((e) => e.requestId === id).map((e) => e.outcome),
        `${r.statusCode} ${r.body}`,
      ).toEqual(['success']);
    }
    const keys = await services.keys.list(a.id);
    expect(keys[0]!.lastUsedAt).not.toBeNull();
    expect(await asOwner(services.store, (tx) => verifyAudit(tx))).toMatchObject({ ok: true });
  });

  it('keeps a resource the reconciler finished while its first request still waited on the backend', async () => {
    const d = await domainWithKey();
    await create(d, 'warm'); // the domain's data key exists from here on
    const held = storage.holdNext();
    const first = create(d, 'slow');
    await held.arrived;
    // The first request's lease runs out; the reconciler takes the resource over and finishes it.
    await new Promise((resolve) => setTimeout(resolve, leaseMs + 100));
    const report = await services.provisioner.reconcile();
    expect(report.finished).toBe(1);
    held.release();
    const { resource } = await first;
    expect(resource.status).toBe('ready');
    const owned = (await storage.provider.listOwned()).filter((o) => o.ref.resourceId === resource.id);
    expect(owned).toHaveLength(1);
    expect(await events(d.id, resource.id)).toEqual([
      `resource.create:success:${d.principal.actor}`,
      'resource.ready:success:system:reconciler',
    ]);
    expect((await services.provisioner.get(d.id, resource.id)).status).toBe('ready');
  });
});

describe('a key revoked while its create waits for the domain, on PostgreSQL', () => {
  it('refuses the create, records the use as refused, and allocates nothing', async () => {
    const database = await createTestDatabase();
    const providers = await openTestProviders();
    const store = await openStore({ kind: 'postgres', url: database.url, poolSize: 5 });
    const services = buildServices(store, testSecret, {
      providers: new Map<ResourceKind, Provider>([['storage', providers.providers.get('storage')!]]),
      slugQuarantineMs: 0,
    });
    providers.bind(services.keyring);
    const app = await buildServer(services);
    const holder = new pg.Client({ connectionString: database.url });
    const watcher = new pg.Client({ connectionString: database.url });
    try {
      await holder.connect();
      await watcher.connect();
      const d = await services.domains.create(actor, { slug: unique('race'), name: 'x' });
      const key = await services.keys.issue(actor, d.id);
      await app.inject({
        method: 'POST',
        url: `/v1/domains/${d.id}/resources`,
        headers: { authorization: `Bearer ${key.key}` },
        payload: { kind: 'storage', name: 'before' },
      });
      // A revocation in flight, as the key service makes it: the domain's row, then the key's. The
      // create reads the key (still live) and waits for the domain.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM domains WHERE id = $1 FOR UPDATE', [d.id]);
      await holder.query('UPDATE provisioning_keys SET revoked_at = now() WHERE id = $1', [key.id]);
      const answer = app.inject({
        method: 'POST',
        url: `/v1/domains/${d.id}/resources`,
        headers: { authorization: `Bearer ${key.key}` },
        payload: { kind: 'storage', name: 'after' },
      });
      await untilSomeoneWaitsForALock(watcher, 'the create never waited for the revocation');
      await holder.query('COMMIT');
      const res = await answer;
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ code: 'invalid_credentials' });
      const events = await asOwner(store, (tx) => listAudit(tx, { domainId: d.id, limit: 1000 }));
      const ofRequest = events.filter((e) => e.requestId === res.headers['x-request-id']);
      expect(ofRequest.map((e) => [e.action, e.outcome, e.detail['reason'] ?? null])).toEqual([
        ['key.authenticate', 'denied', 'revoked'],
      ]);
      const rows = await asOwner(store, (tx) =>
        tx.selectFrom('resources').select('name').where('domain_id', '=', d.id).execute(),
      );
      expect(rows.map((r) => r.name)).toEqual(['before']);
      const owned = (await providers.providers.get('storage')!.listOwned()).filter(
        (o) => o.ref.domainId === d.id,
      );
      expect(owned).toHaveLength(1);
    } finally {
      await holder.end().catch(() => undefined);
      await watcher.end().catch(() => undefined);
      await app.close();
      await services.provisioner.stop();
      for (const d of await services.domains.list({ limit: 10 })) await services.domains.delete(actor, d.id);
      await services.provisioner.reconcile();
      await store.close();
      await database.drop();
      await providers.providers.get('postgres')!.close();
      providers.remove();
    }
  });
});
