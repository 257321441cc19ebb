// A resource remembers the backend it was created on, and a failed create says why. Two servers share one store, as one server
// restarted with another configuration would: one with the real PostgreSQL provider, one with the
// embedded PGlite provider. Each refuses to delete, rotate or hand out the credentials of the other's
// resources (409 `backend_not_configured`, naming the backend and the variable), changes nothing, audits
// the refusal as `refused`, and its reconciler leaves them alone; the server configured for them still
// does everything.
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { apiClient } from '../../src/cli/api-client.js';
import type { ResourceKind } from '../../src/domain/kinds.js';
import { BulkheadError } from '../../src/errors.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Actor } from '../../src/policy/principal.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import type { Provider } from '../../src/providers/provider.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends, openTestServices, testSecret } from '../helpers/backends.js';
import { operatorToken, unique } from '../helpers/api.js';
import { freePort, tempDir } from '../helpers/processes.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { domainWithKeyPrincipal } from '../helpers/tenants.js';
import { startTrustingPostgres, type TrustingPostgres } from '../helpers/trusting-postgres.js';

const actor: Actor = { actor: 'operator', requestId: null };

/** True when the URL logs in. */
async function logsIn(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('a resource on a backend this server is not configured for', () => {
  let store: Store & { drop(): Promise<void> };
  let providers: TestProviders;
  let embeddedPostgres: Provider;
  let dir: { path: string; remove(): void };
  /** The server started with BULKHEAD_POSTGRES_URL. */
  let onServer: Services;
  /** The same store, started without it: postgres resources are PGlite directories. */
  let embedded: Services;
  let embeddedApp: App;
  const leaseMs = 200;

  beforeAll(async () => {
    store = await backends[1]!.open();
    providers = await openTestProviders();
    dir = tempDir('bulkhead-backends-');
    embeddedPostgres = await createPostgresProvider({ kind: 'embedded', root: `${dir.path}/postgres` });
    onServer = buildServices(store, testSecret, {
      providers: providers.providers,
      leaseMs,
      slugQuarantineMs: 0,
    });
    providers.bind(onServer.keyring);
    embedded = buildServices(store, testSecret, {
      providers: new Map<ResourceKind, Provider>([
        ['postgres', embeddedPostgres],
        ['storage', providers.providers.get('storage')!],
      ]),
      leaseMs,
      slugQuarantineMs: 0,
    });
    await embedded.operator.initialise(operatorToken);
    embeddedApp = await buildServer(embedded);
  });

  afterAll(async () => {
    await embeddedApp.close();
    for (const d of await onServer.domains.list({ limit: 500 })) {
      if (d.status !== 'deleted') await onServer.domains.delete(actor, d.id);
    }
    await new Promise((r) => setTimeout(r, leaseMs + 50));
    await onServer.provisioner.reconcile();
    await embedded.provisioner.reconcile();
    await onServer.provisioner.stop();
    await embedded.provisioner.stop();
    await providers.providers.get('postgres')!.close();
    await store.drop();
    providers.remove();
    dir.remove();
  });

  const domainWithKey = () => domainWithKeyPrincipal(onServer, actor, unique('where'), 'w');

  const row = (id: string) =>
    asOwner(store, (tx) =>
      tx.selectFrom('resources').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    );

  const events = (domainId: string, target: string) =>
    asOwner(store, (tx) => listAudit(tx, { domainId, limit: 1000 })).then((all) =>
      all.filter((e) => e.target === target).map((e) => `${e.action}:${e.outcome}`),
    );

  it('records the backend at creation, and the other server refuses to touch it, changing nothing', async () => {
    const d = await domainWithKey();
    const { resource } = await onServer.provisioner.create({
      principal: d.principal,
      requestId: null,
      domainId: d.id,
      kind: 'postgres',
      name: 'orders',
    });
    expect(resource.status).toBe('ready');
    const server = providers.providers.get('postgres')!.backend;
    expect(server.type).toBe('postgres-server');
    expect(await row(resource.id)).toMatchObject({ backend: server.type, backend_location: server.location });
    const credentials = await onServer.provisioner.credentials(actor, d.id, resource.id);
    const before = (await row(resource.id)).credentials;

    const path = `/v1/domains/${d.id}/resources/${resource.id}`;
    const headers = { authorization: `Bearer ${d.key}` };
    for (const [method, url, verb] of [
      ['DELETE', path, 'delete'],
      ['POST', `${path}/credentials/rotate`, 'rotate the credentials of'],
      ['GET', `${path}/credentials`, 'read the credentials of'],
    ] as const) {
      const res = await embeddedApp.inject({ method, url, headers });
      expect(res.statusCode, res.body).toBe(409);
      const problem = res.json<{ code: string; detail: string; hint: string }>();
      expect(problem.code).toBe('backend_not_configured');
      expect(problem.detail).toContain(`lives on postgres-server ${server.location}`);
      expect(problem.detail).toContain(
        `this server's postgres backend is postgres-embedded ${dir.path}/postgres`,
      );
      expect(problem.detail).toContain('BULKHEAD_POSTGRES_URL');
      expect(problem.detail).toContain(`to ${verb} it`);
      expect(problem.hint).toMatch(
        /^start a server with BULKHEAD_POSTGRES_URL pointing at 127\.0\.0\.1:5432/,
      );
      expect(res.body).not.toContain(String(credentials['password']));
    }
    // Nothing changed: still ready, the same stored credentials, and the database still takes its logins.
    const after = await row(resource.id);
    expect(after).toMatchObject({ status: 'ready', credentials: before, deleted_at: null });
    expect(await logsIn(String(credentials['url']))).toBe(true);
    expect(await events(d.id, resource.id)).toEqual([
      'resource.create:success',
      'resource.ready:success',
      'resource.credentials:success',
      'resource.delete:refused',
      'resource.credentials_rotated:refused',
      'resource.credentials:refused',
    ]);

    // The server configured for it deletes it for real.
    expect((await onServer.provisioner.delete(actor, d.id, resource.id)).status).toBe('deleted');
    expect(await logsIn(String(credentials['url']))).toBe(false);
  });

  it("leaves the other server's resources to it when reconciling a deleted domain", async () => {
    const d = await domainWithKey();
    const { resource } = await onServer.provisioner.create({
      principal: d.principal,
      requestId: null,
      domainId: d.id,
      kind: 'postgres',
      name: 'kept',
    });
    const credentials = await onServer.provisioner.credentials(actor, d.id, resource.id);
    // Deleting the domain marks its resources; the embedded server's reconciler must not "finish" them.
    await embedded.domains.delete(actor, d.id);
    await new Promise((r) => setTimeout(r, leaseMs + 50));
    await embedded.provisioner.reconcile();
    expect(await row(resource.id)).toMatchObject({ status: 'deprovisioning', attempts: 0 });
    expect(await logsIn(String(credentials['url']))).toBe(true);
    await onServer.provisioner.reconcile();
    expect(await row(resource.id)).toMatchObject({ status: 'deleted' });
    expect(await logsIn(String(credentials['url']))).toBe(false);
  });

  it("refuses the other way round: the PostgreSQL server's configuration leaves embedded resources", async () => {
    const d = await domainWithKey();
    const { resource } = await embedded.provisioner.create({
      principal: d.principal,
      requestId: null,
      domainId: d.id,
      kind: 'postgres',
      name: 'local',
    });
    const error = await onServer.provisioner.delete(actor, d.id, resource.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkheadError);
    expect((error as BulkheadError).code).toBe('backend_not_configured');
    expect((error as BulkheadError).message).toContain(`lives on postgres-embedded ${dir.path}/postgres`);
    expect((error as BulkheadError).message).toContain('without BULKHEAD_POSTGRES_URL');
    expect((await embeddedPostgres.inspect({ domainId: d.id, resourceId: resource.id })).exists).toBe(true);
    expect((await row(resource.id)).status).toBe('ready');
    expect((await embedded.provisioner.delete(actor, d.id, resource.id)).status).toBe('deleted');
    expect((await embeddedPostgres.inspect({ domainId: d.id, resourceId: resource.id })).exists).toBe(false);
  });

  it('takes a resource recorded before backends were to live on the configured backend', async () => {
    const d = await domainWithKey();
    const { resource } = await embedded.provisioner.create({
      principal: d.principal,
      requestId: null,
      domainId: d.id,
      kind: 'storage',
      name: 'old',
    });
    await asOwner(store, (tx) =>
      tx
        .updateTable('resources')
        .set({ backend: null, backend_location: null })
        .where('id', '=', resource.id)
        .execute(),
    );
    expect((await embedded.provisioner.delete(actor, d.id, resource.id)).status).toBe('deleted');
  });

  it('names the variable that offers a kind this server does not offer', async () => {
    const d = await domainWithKey();
    const res = await embeddedApp.inject({
      method: 'POST',
      url: `/v1/domains/${d.id}/resources`,
      headers: { authorization: `Bearer ${d.key}` },
      payload: { kind: 'redis', name: 'cache' },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ code: 'unsupported_kind' });
    expect(res.json<{ detail: string }>().detail).toContain('BULKHEAD_REDIS_URL');
    expect(res.json<{ hint: string }>().hint).toContain('BULKHEAD_REDIS_URL');
  });
});

// A create refused by its backend answers with the backend's reason and what to do, never a secret; it
// made nothing, so the same create succeeds once the cause is fixed, without deleting anything by hand.
describe('a create its backend refuses', () => {
  let trusting: TrustingPostgres;
  const opened: (Services & { drop(): Promise<void> })[] = [];

  beforeAll(async () => {
    trusting = await startTrustingPostgres();
  }, 60_000);

  afterAll(async () => {
    for (const services of opened) {
      for (const d of await services.domains.list({ limit: 500 })) await services.domains.delete(actor, d.id);
      // A backend that never answered has nothing to clean up, and cannot be asked.
      await services.provisioner.reconcile().catch(() => undefined);
      await services.drop();
    }
    await trusting?.stop();
  });

  async function serverWith(provider: Provider) {
    const services = await openTestServices(backends[0]!, {
      providers: new Map<ResourceKind, Provider>([['postgres', provider]]),
    });
    opened.push(services);
    await services.operator.initialise(operatorToken);
    const app = await buildServer(services);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as AddressInfo;
    const domain = await services.domains.create(actor, { slug: unique('cause'), name: 'c' });
    const key = (await services.keys.issue(actor, domain.id)).key;
    return { services, app, url: `http://127.0.0.1:${address.port}`, domainId: domain.id, key };
  }

  it('answers unsafe_server with the pg_hba.conf line, then creates under the same name once fixed', async () => {
    const provider = await createPostgresProvider({
      kind: 'server',
      adminUrl: trusting.url,
      mode: 'database',
    });
    const { services, app, url, domainId, key } = await serverWith(provider);
    try {
      // One postgres resource allowed: refused creates must not hold a place in the quota either.
      await asOwner(services.store, (tx) =>
        tx
          .updateTable('pools')
          .set({ quotas: JSON.stringify({ postgres: 1 }) })
          .where('domain_id', '=', domainId)
          .execute(),
      );
      const api = apiClient(url, key);
      const path = `/v1/domains/${domainId}/resources`;
      for (let attempt = 0; attempt < 2; attempt++) {
        // Through the CLI's client: the reason and the fix come back in the error it throws.
        const error = await api('POST', path, { body: { kind: 'postgres', name: 'orders' } }).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(BulkheadError);
        const e = error as BulkheadError;
        expect([e.code, e.reason]).toEqual(['provisioning_failed', 'unsafe_server']);
        expect(e.message).toContain('(unsafe_server)');
        expect(e.message).toContain('lets a role log in without its password');
        expect(e.hint).toMatch(/^add "host all all 127\.0\.0\.1\/32 scram-sha-256" to pg_hba\.conf/);
      }
      const raw = await app.inject({
        method: 'POST',
        url: path,
        headers: { authorization: `Bearer ${key}` },
        payload: { kind: 'postgres', name: 'orders' },
      });
      expect(raw.statusCode).toBe(502);
      expect(raw.json()).toMatchObject({ code: 'provisioning_failed', reason: 'unsafe_server' });
      const failed = await services.provisioner.list(domainId);
      expect(failed.map((r) => [r.name, r.status])).toEqual([
        ['orders', 'failed'],
        ['orders', 'failed'],
        ['orders', 'failed'],
      ]);
      expect(failed[0]!.error).toMatch(/^unsafe_server: /);

      await trusting.requirePasswords();
      const created = await api<{ id: string; name: string; status: string }>('POST', path, {
        body: { kind: 'postgres', name: 'orders' },
      });
      expect(created).toMatchObject({ name: 'orders', status: 'ready' });
      const credentials = await api<{ url: string }>('GET', `${path}/${created.id}/credentials`);
      expect(await logsIn(credentials.url)).toBe(true);
      // The resource that holds the name now keeps it, as before.
      await asOwner(services.store, (tx) =>
        tx
          .updateTable('pools')
          .set({ quotas: JSON.stringify({ postgres: 2 }) })
          .where('domain_id', '=', domainId)
          .execute(),
      );
      const taken = await api('POST', path, { body: { kind: 'postgres', name: 'orders' } }).catch(
        (e: unknown) => e,
      );
      expect((taken as BulkheadError).code).toBe('name_taken');
    } finally {
      await app.close();
      await provider.close();
    }
  });

  it('answers backend_unreachable with the address, never the password, and lets the attempt go', async () => {
    const port = await freePort();
    const secret = 'not-for-tenants-3141';
    const provider = await createPostgresProvider({
      kind: 'server',
      adminUrl: `postgres://postgres:${secret}@127.0.0.1:${port}/postgres`,
      mode: 'database',
    });
    const { services, app, domainId, key } = await serverWith(provider);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await app.inject({
          method: 'POST',
          url: `/v1/domains/${domainId}/resources`,
          headers: { authorization: `Bearer ${key}` },
          payload: { kind: 'postgres', name: 'orders' },
        });
        expect(res.statusCode, res.body).toBe(502);
        const problem = res.json<{ code: string; reason: string; detail: string; hint: string }>();
        expect([problem.code, problem.reason]).toEqual(['provisioning_failed', 'backend_unreachable']);
        expect(problem.detail).toContain(`postgres-server 127.0.0.1:${port} (database mode) did not answer`);
        expect(problem.hint).toContain(`127.0.0.1:${port}`);
        expect(problem.hint).toContain('BULKHEAD_POSTGRES_URL');
        expect(res.body).not.toContain(secret);
      }
      // Nothing was made, so the failed resources go at once, with the backend still not answering.
      for (const failed of await services.provisioner.list(domainId)) {
        expect(failed).toMatchObject({ status: 'failed' });
        expect((await services.provisioner.delete(actor, domainId, failed.id)).status).toBe('deleted');
      }
    } finally {
      await app.close();
      await provider.close();
    }
  });
});
