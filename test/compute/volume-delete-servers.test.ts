// Two servers on one PostgreSQL store and one volume directory: volumes deleted through one while the
// other's reconciler runs. The zeroing is leased per volume, so each volume is zeroed and recorded
// `volume.deleted` once, by whichever server took it; the DELETE answers `deleting` (the request never
// waits for the zeros, and nothing it answers is overtaken), and a repeat on either server answers the
// volume as it is then, `deleted` once the worker is done.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends, testSecret } from '../helpers/backends.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

describe('volume deletes across two servers', () => {
  let store: Store & { drop(): Promise<void> };
  let volumeRoot: string;
  const servers: { services: Services; app: App }[] = [];
  let a: Tenant;

  beforeAll(async () => {
    store = await backends[1]!.open();
    volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-volumes-servers-'));
    for (let i = 0; i < 2; i++) {
      const services = buildServices(store, testSecret, {
        providers: new Map(),
        slugQuarantineMs: 0,
        volumeRoot,
        leaseMs: 2_000,
      });
      if (i === 0) await services.operator.initialise(operatorToken);
      servers.push({ services, app: await buildServer(services) });
    }
    a = await createTenant(servers[0]!.app, operatorToken, `vol-servers-${process.pid}`);
  });

  afterAll(async () => {
    for (const { app, services } of servers) {
      await app.close();
      await services.compute.stop();
      await services.provisioner.stop();
    }
    await store.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  });

  it("zeroes and records each volume once, and no answer is overtaken by the other server's worker", async () => {
    const call = (i: number) => callerOf(() => servers[i]!.app);
    const as = { tenant: a, credential: 'key' as const };
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const v = await call(0)('POST', `/v1/domains/${a.id}/volumes`, {
        ...as,
        body: { name: `v${i}`, sizeBytes: 256 * 1024 },
      });
      expect(v.statusCode, v.body).toBe(201);
      ids.push(v.json<{ id: string }>().id);
    }
    // Server 1's reconciler runs over and over while server 0 answers the deletes.
    let deleting = true;
    const other = (async () => {
      while (deleting) {
        await servers[1]!.services.compute.reconcile();
        await servers[1]!.services.compute.zeroing();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const answers = await Promise.all(
      ids.map((id, i) => call(i % 2)('DELETE', `/v1/domains/${a.id}/volumes/${id}`, as)),
    );
    deleting = false;
    await other;
    for (const answer of answers) {
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json<{ status: string }>().status).toBe('deleting');
    }
    for (const { services } of servers) {
      await services.compute.reconcile();
      await services.compute.zeroing();
    }
    const events = await asOwner(store, (tx) => listAudit(tx, { domainId: a.id, limit: 1000 }));
    for (const [i, id] of ids.entries()) {
      expect(events.filter((e) => e.target === id && e.action === 'volume.deleted')).toHaveLength(1);
      expect(existsSync(join(volumeRoot, a.id, `${id}.img`))).toBe(false);
      const again = await call(1 - (i % 2))('DELETE', `/v1/domains/${a.id}/volumes/${id}`, as);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json<{ status: string }>().status).toBe('deleted');
    }
  });
});
