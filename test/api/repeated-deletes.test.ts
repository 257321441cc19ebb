// One rule for a DELETE sent again (docs/api.md, "Deleting twice"), for every kind of thing, on both
// stores: a repeat of a completed delete answers the same success as the first (a resource, volume,
// instance or key with its state now; an object the same 204) and changes and audits nothing more; an id
// that never existed answers 404, and so does another domain's id, live or deleted, with exactly the body
// of an unknown one. A retry after a crash of the server that ran the first try is such a repeat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner, backends, testSecret } from '../helpers/backends.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { comparable, createTenant, type Tenant } from '../helpers/tenants.js';

describe.each(backends)('deleting twice on $name', (backend) => {
  let store: Store & { drop(): Promise<void> };
  let providers: TestProviders;
  let services: Services;
  let app: App;
  let volumeRoot: string;
  let a: Tenant;
  let b: Tenant;
  const call = callerOf(() => app);

  beforeAll(async () => {
    store = await backend.open();
    providers = await openTestProviders();
    volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-volumes-twice-'));
    services = buildServices(store, testSecret, {
      providers: providers.providers,
      slugQuarantineMs: 0,
      volumeRoot,
    });
    providers.bind(services.keyring);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await createTenant(app, operatorToken, `twice-a-${process.pid}`);
    b = await createTenant(app, operatorToken, `twice-b-${process.pid}`);
  });

  afterAll(async () => {
    await app.close();
    await services.provisioner.stop();
    await services.compute.stop();
    for (const p of providers.providers.values()) await p.close();
    providers.remove();
    await store.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  });

  /** One kind of thing: how to make one in a domain, its DELETE path, and the audit action of a delete. */
  interface Kind {
    readonly name: string;
    make(t: Tenant): Promise<string>;
    path(t: Tenant, id: string): string;
    readonly unknown: string;
    readonly action: string;
    readonly credential: 'key' | 'operator';
    /** The success a delete answers: 200 with the thing (and which states), or 204. */
    readonly answer: { status: 200; states: string[] } | { status: 204 };
  }

  async function created(t: Tenant, url: string, body: unknown): Promise<string> {
    const res = await call('POST', url, { tenant: t, credential: 'key', body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  const files: Record<string, string> = {};
  let n = 0;
  const next = (prefix: string) => `${prefix}${++n}`;
  const storageOf = async (t: Tenant) =>
    (files[t.id] ??= await created(t, `/v1/domains/${t.id}/resources`, { kind: 'storage', name: 'files' }));

  const kinds: Kind[] = [
    {
      name: 'resource',
      make: (t) => created(t, `/v1/domains/${t.id}/resources`, { kind: 'storage', name: next('r') }),
      path: (t, id) => `/v1/domains/${t.id}/resources/${id}`,
      unknown: 'res_00000000000000000000000000',
      action: 'resource.delete',
      credential: 'key',
      answer: { status: 200, states: ['deleted'] },
    },
    {
      name: 'volume',
      make: (t) => created(t, `/v1/domains/${t.id}/volumes`, { name: next('v'), sizeBytes: 4096 }),
      path: (t, id) => `/v1/domains/${t.id}/volumes/${id}`,
      unknown: 'vol_00000000000000000000000000',
      action: 'volume.delete',
      credential: 'key',
      answer: { status: 200, states: ['deleting', 'deleted'] },
    },
    {
      name: 'instance',
      make: (t) => created(t, `/v1/domains/${t.id}/instances`, { name: next('i') }),
      path: (t, id) => `/v1/domains/${t.id}/instances/${id}`,
      unknown: 'ins_00000000000000000000000000',
      action: 'instance.delete',
      credential: 'key',
      answer: { status: 200, states: ['deleted'] },
    },
    {
      name: 'object',
      async make(t) {
        const key = `${next('doc')}.txt`;
        const put = await call('PUT', `/v1/domains/${t.id}/resources/${await storageOf(t)}/objects/${key}`, {
          tenant: t,
          credential: 'key',
          body: Buffer.from('bytes'),
        });
        expect(put.statusCode, put.body).toBe(200);
        return key;
      },
      path: (t, key) => `/v1/domains/${t.id}/resources/${files[t.id]}/objects/${key}`,
      unknown: 'never-written.txt',
      action: 'object.delete',
      credential: 'key',
      answer: { status: 204 },
    },
    {
      name: 'key',
      async make(t) {
        const res = await call('POST', `/v1/domains/${t.id}/keys`, { body: {} });
        expect(res.statusCode, res.body).toBe(201);
        return res.json<{ id: string }>().id;
      },
      path: (t, id) => `/v1/domains/${t.id}/keys/${id}`,
      unknown: 'key_00000000000000000000000000',
      action: 'key.revoke',
      credential: 'operator',
      answer: { status: 200, states: ['revoked'] },
    },
  ];

  const send = (t: Tenant, kind: Kind, path: string) =>
    kind.credential === 'operator'
      ? call('DELETE', path)
      : call('DELETE', path, { tenant: t, credential: 'key' });

  /** The state a 200 answer shows: `status`, or `revoked` for a key with its revocation time set. */
  const stateOf = (body: Record<string, unknown>) =>
    'revokedAt' in body ? (body['revokedAt'] === null ? 'live' : 'revoked') : String(body['status']);

  const deletes = async (domainId: string, action: string, target: string) =>
    (await asOwner(store, (tx) => listAudit(tx, { domainId, limit: 1000 }))).filter(
      (e) => e.action === action && (e.target === target || (e.detail as { key?: string }).key === target),
    ).length;

  it.each(kinds.map((k) => [k.name, k] as const))(
    '%s: a repeated delete answers the same success; an unknown or foreign id answers 404',
    async (_name, kind) => {
      const id = await kind.make(a);
      const first = await send(a, kind, kind.path(a, id));
      expect(first.statusCode, first.body).toBe(kind.answer.status);
      await services.compute.zeroing();
      for (let i = 0; i < 2; i++) {
        const again = await send(a, kind, kind.path(a, id));
        expect(again.statusCode, again.body).toBe(kind.answer.status);
        if (kind.answer.status === 200) {
          const body = again.json<Record<string, unknown>>();
          expect(body['id']).toBe(id);
          expect(kind.answer.states).toContain(stateOf(body));
        }
      }
      // The first delete is audited once; the repeats change nothing.
      expect(await deletes(a.id, kind.action, id)).toBe(1);

      // Never existed, and B's (live, then deleted) through A: the one 404 of an unknown id.
      const unknown = await send(a, kind, kind.path(a, kind.unknown));
      if (kind.name === 'object') {
        // Objects keep no record once deleted: a key that holds nothing answers the same 204.
        expect(unknown.statusCode, unknown.body).toBe(204);
      } else {
        expect(unknown.statusCode, unknown.body).toBe(404);
      }
      const theirs = await kind.make(b);
      if (kind.name === 'object') {
        // An object's path names its domain's storage area, which A's key does not reach: B's object
        // through A is refused as not found, and stays.
        const foreign = await call('DELETE', kind.path(b, theirs), { tenant: a, credential: 'key' });
        expect(foreign.statusCode, foreign.body).toBe(404);
        const still = await call('GET', kind.path(b, theirs), { tenant: b, credential: 'key' });
        expect(still.statusCode, still.body).toBe(200);
      } else {
        const unknownAnswer = comparable(await send(a, kind, kind.path(a, kind.unknown)));
        expect(comparable(await send(a, kind, kind.path(a, theirs)))).toEqual(unknownAnswer);
        expect((await send(b, kind, kind.path(b, theirs))).statusCode).toBe(200);
        await services.compute.zeroing();
        expect(comparable(await send(a, kind, kind.path(a, theirs)))).toEqual(unknownAnswer);
        expect(await deletes(a.id, kind.action, theirs)).toBe(0);
        expect(await deletes(b.id, kind.action, theirs)).toBe(1);
      }
    },
  );
});
