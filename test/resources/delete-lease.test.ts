// A delete that takes longer than the lease is not overtaken: the server deleting a resource renews its
// lease while the backend works, so another server's reconciler, running over and over meanwhile, never
// takes the resource. The `slow-delete` failpoint makes the first server's backend delete wait twice the
// lease; before renewal, the other reconciler took the resource as soon as the lease ran out and recorded
// the deletion itself, under the request still in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends, testSecret } from '../helpers/backends.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

const leaseMs = 400;

describe.each(backends)('a delete longer than the lease on $name', (backend) => {
  let store: Store & { drop(): Promise<void> };
  let providers: TestProviders;
  const servers: { services: Services; app: App }[] = [];
  let a: Tenant;

  beforeAll(async () => {
    store = await backend.open();
    providers = await openTestProviders();
    for (let i = 0; i < 2; i++) {
      const services = buildServices(store, testSecret, {
        providers: providers.providers,
        slugQuarantineMs: 0,
        leaseMs,
        // Only the first server's deletes are slow.
        failpoint: i === 0 ? 'slow-delete' : undefined,
      });
      if (i === 0) providers.bind(services.keyring);
      await services.operator.initialise(operatorToken);
      servers.push({ services, app: await buildServer(services) });
    }
    a = await createTenant(servers[0]!.app, operatorToken, `delete-lease-${process.pid}`);
  });

  afterAll(async () => {
    for (const { app, services } of servers) {
      await app.close();
      await services.provisioner.stop();
      await services.compute.stop();
    }
    for (const p of providers.providers.values()) await p.close();
    providers.remove();
    await store.drop();
  });

  it("is never taken by another server's reconciler while it runs, and answers deleted", async () => {
    const as = { tenant: a, credential: 'key' as const };
    const call = (i: number) => callerOf(() => servers[i]!.app);
    const created = await call(0)('POST', `/v1/domains/${a.id}/resources`, {
      ...as,
      body: { kind: 'storage', name: 'slow' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    let running = true;
    let takenByOther = 0;
    let passes = 0;
    const other = (async () => {
      while (running) {
        const report = await servers[1]!.services.provisioner.reconcile();
        takenByOther += report.deleted + report.failed;
        passes++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const started = Date.now();
    const deleted = await call(0)('DELETE', `/v1/domains/${a.id}/resources/${id}`, as);
    const took = Date.now() - started;
    running = false;
    await other;
    // The failpoint held the delete past the lease, and the other reconciler ran all along.
    expect(took).toBeGreaterThanOrEqual(2 * leaseMs);
    expect(passes).toBeGreaterThan(3);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json<{ status: string }>().status).toBe('deleted');
    expect(takenByOther).toBe(0);
    const events = await asOwner(store, (tx) => listAudit(tx, { domainId: a.id, limit: 1000 }));
    const done = events.filter((e) => e.target === id && e.action === 'resource.deleted');
    expect(done).toHaveLength(1);
    expect(done[0]!.actor).not.toBe('system:reconciler');
  });
});
