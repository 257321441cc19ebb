// The provisioning path's bookkeeping: every resource's creation and readiness recorded exactly once
// with the audit chain intact, whether the reservation and the ready mark travelled in one message each
// or took the longer way; and a resource that the reconciler finished while the first request still
// waited on the backend is kept, not undone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../src/audit/log.js';
import type { ResourceKind } from '../src/domain/kinds.js';
import type { Actor } from '../src/policy/principal.js';
import type { Provider, ResourceRef } from '../src/providers/provider.js';
import type { KeyPrincipal } from '../src/provisioner/provisioner.js';
import type { Services } from '../src/runtime.js';
import { asOwner, backends, openTestServices } from './helpers/backends.js';
import { openTestProviders, type TestProviders } from './helpers/providers.js';

const actor: Actor = { actor: 'operator', requestId: null };
let n = 0;
const unique = (base: string) => `${base}-${process.pid}-${++n}`;

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
  const leaseMs = 300;

  beforeAll(async () => {
    providers = await openTestProviders();
    storage = holdable(providers.providers.get('storage')!);
    services = await openTestServices(backend, {
      providers: new Map<ResourceKind, Provider>([['storage', storage.provider]]),
      leaseMs,
    });
    providers.bind(services.keyring);
  });

  afterAll(async () => {
    for (const d of await services.domains.list({ limit: 500 })) {
      await services.domains.delete(actor, d.id);
    }
    await services.provisioner.reconcile();
    await services.drop();
    await providers.providers.get('postgres')!.close();
    providers.remove();
  });

  async function domainWithKey(): Promise<{ id: string; principal: KeyPrincipal }> {
    const domain = await services.domains.create(actor, { slug: unique('path'), name: 'p' });
    const key = await services.keys.issue(actor, domain.id);
    return { id: domain.id, principal: await services.keys.authenticate(key.key, null) };
  }

  const create = (d: { id: string; principal: KeyPrincipal }, name: string) =>
    services.provisioner.create(d.principal, null, d.id, { kind: 'storage', name });

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
    await asOwner(services.store, (tx) =>
      tx
        .updateTable('pools')
        .set({ quotas: JSON.stringify({ storage: 1 }) })
        .where('domain_id', '=', d.id)
        .execute(),
    );
    await create(d, 'only');
    await expect(create(d, 'second')).rejects.toMatchObject({ code: 'quota_exceeded' });
    const denied = (
      await asOwner(services.store, (tx) => listAudit(tx, { domainId: d.id, limit: 100 }))
    ).filter((e) => e.action === 'resource.create' && e.outcome === 'denied');
    expect(denied.map((e) => e.detail['reason'])).toEqual(['quota']);
    const owned = (await storage.provider.listOwned()).filter((o) => o.ref.domainId === d.id);
    expect(owned).toHaveLength(1);
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
