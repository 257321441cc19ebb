// Blueprints with the real PostgreSQL and storage providers: all ready, or every step undone so the
// domain and the backends are as they were; a crash in the middle is rolled back by the reconciler.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, createDomainWithKey, openProvidedApi, operatorToken, unique } from '../helpers/api.js';
import { asOwner, backends } from '../helpers/backends.js';
import type { TestProviders } from '../helpers/providers.js';

interface Blueprint {
  id: string;
  status: string;
  error: string | null;
  resources: { id: string; kind: 'postgres' | 'storage'; status: string; domainId: string }[];
}

describe.each(backends)('blueprints on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;

  const call = callerOf(() => app);
  const domainWithKey = (scopes?: string[]) =>
    createDomainWithKey(call, { slug: unique('bp'), name: 'bp', scopes });

  async function backendExists(domainId: string, resourceId: string, kind: 'postgres' | 'storage') {
    return (await providers.providers.get(kind)!.inspect({ domainId, resourceId })).exists;
  }

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, { leaseMs: 2_000 }));
  });

  afterAll(async () => {
    for (const d of await services.domains.list({ limit: 500 }))
      await services.domains.delete({ actor: 'test', requestId: null }, d.id);
    await services.provisioner.reconcile();
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('provisions every resource and reports the blueprint ready', async () => {
    const a = await domainWithKey();
    const res = await call('POST', `/v1/domains/${a.id}/blueprints`, {
      token: a.key,
      body: {
        name: 'app',
        resources: [
          { kind: 'postgres', name: 'db' },
          { kind: 'storage', name: 'files' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const bp = res.json<Blueprint>();
    expect(bp.status).toBe('ready');
    expect(bp.resources.map((r) => [r.kind, r.status]).sort()).toEqual([
      ['postgres', 'ready'],
      ['storage', 'ready'],
    ]);
    for (const r of bp.resources) expect(await backendExists(a.id, r.id, r.kind)).toBe(true);
    const shown = await call('GET', `/v1/domains/${a.id}/blueprints/${bp.id}`, { token: a.key });
    expect(shown.json<Blueprint>()).toMatchObject({ id: bp.id, status: 'ready' });
    const actions = (
      await asOwner(services.store, (tx) => listAudit(tx, { domainId: a.id, limit: 1000 }))
    ).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['blueprint.create', 'resource.ready', 'blueprint.ready']),
    );
  });

  it('undoes every step when one fails, leaving the domain and the backends as they were', async () => {
    const a = await domainWithKey();
    // No storage allowed: the storage step fails after the postgres step may already have succeeded.
    const quota = await call('PUT', `/v1/domains/${a.id}/pool`, {
      token: operatorToken,
      body: { quotas: { storage: 0 } },
    });
    expect(quota.statusCode, quota.body).toBe(200);
    const res = await call('POST', `/v1/domains/${a.id}/blueprints`, {
      token: a.key,
      body: {
        name: 'app',
        resources: [
          { kind: 'postgres', name: 'db' },
          { kind: 'storage', name: 'files' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'quota_exceeded' });
    const listed = await call('GET', `/v1/domains/${a.id}/resources`, { token: a.key });
    expect(listed.json<{ items: unknown[] }>().items).toEqual([]);
    const all = await call('GET', `/v1/domains/${a.id}/resources?includeDeleted=true`, { token: a.key });
    const made = all.json<{ items: { id: string; kind: 'postgres' | 'storage'; status: string }[] }>().items;
    expect(made.length).toBeGreaterThanOrEqual(1);
    for (const r of made) {
      expect(r.status).toBe('deleted');
      expect(await backendExists(a.id, r.id, r.kind)).toBe(false);
    }
    const events = await asOwner(services.store, (tx) => listAudit(tx, { domainId: a.id, limit: 1000 }));
    const rolledBack = events.find((e) => e.action === 'blueprint.rolled_back');
    expect(rolledBack?.detail['error']).toMatch(/quota_exceeded/);
  });

  it('refuses a blueprint with a kind the key is not scoped for, creating nothing', async () => {
    const a = await domainWithKey(['storage']);
    const res = await call('POST', `/v1/domains/${a.id}/blueprints`, {
      token: a.key,
      body: {
        name: 'app',
        resources: [
          { kind: 'storage', name: 'files' },
          { kind: 'postgres', name: 'db' },
        ],
      },
    });
    expect(res.json()).toMatchObject({ code: 'scope_denied' });
    const all = await call('GET', `/v1/domains/${a.id}/resources?includeDeleted=true`, { token: a.key });
    expect(all.json<{ items: unknown[] }>().items).toEqual([]);
  });

  it('refuses a blueprint with a kind this server has no provider for, recording nothing', async () => {
    const a = await domainWithKey();
    const res = await call('POST', `/v1/domains/${a.id}/blueprints`, {
      token: a.key,
      body: {
        name: 'app',
        resources: [
          { kind: 'storage', name: 'files' },
          { kind: 'rabbitmq', name: 'queue' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ code: 'unsupported_kind' });
    const rows = await asOwner(services.store, (tx) =>
      tx.selectFrom('blueprints').select('id').where('domain_id', '=', a.id).execute(),
    );
    expect(rows).toEqual([]);
    const all = await call('GET', `/v1/domains/${a.id}/resources?includeDeleted=true`, { token: a.key });
    expect(all.json<{ items: unknown[] }>().items).toEqual([]);
  });

  it('rolls back a blueprint a crash left half done, once its lease runs out', async () => {
    const a = await domainWithKey();
    const made = await call('POST', `/v1/domains/${a.id}/resources`, {
      token: a.key,
      body: { kind: 'storage', name: 'half' },
    });
    expect(made.statusCode, made.body).toBe(201);
    const resourceId = made.json<{ id: string }>().id;
    const blueprintId = 'bpr_0000000000000000000000000a';
    // What a process killed between two steps leaves behind: the blueprint under an expired lease, one
    // resource of it made.
    await asOwner(services.store, async (tx) => {
      const now = new Date();
      await tx
        .insertInto('blueprints')
        .values({
          id: blueprintId,
          domain_id: a.id,
          name: 'crashed',
          status: 'provisioning',
          spec: JSON.stringify([{ kind: 'storage', name: 'half' }]),
          lease_until: new Date(now.getTime() - 1000),
          created_at: now,
          updated_at: now,
        })
        .execute();
      await tx
        .updateTable('resources')
        .set({ blueprint_id: blueprintId })
        .where('id', '=', resourceId)
        .execute();
    });
    expect(await services.blueprints.reconcile()).toBeGreaterThanOrEqual(1);
    const shown = await call('GET', `/v1/domains/${a.id}/blueprints/${blueprintId}`, { token: a.key });
    expect(shown.json<Blueprint>()).toMatchObject({ status: 'rolled_back' });
    expect(shown.json<Blueprint>().resources.map((r) => r.status)).toEqual(['deleted']);
    expect(await backendExists(a.id, resourceId, 'storage')).toBe(false);
  });
});
