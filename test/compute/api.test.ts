// Instances, volumes and grants through the API, on both stores: a volume attaches only at home, a
// foreign instance is exactly an unknown one, a deleted volume is zeroed before its space goes back, and
// a grant opens exactly what it names, for exactly as long as it lives.
import { openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { VolumeDisks } from '../../src/providers/storage/volume-disks.js';
import type { Services } from '../../src/runtime.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { comparable, createTenant, credentialHeaders, domainState, type Tenant } from '../helpers/tenants.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const unknownInstance = 'ins_00000000000000000000000000';
const unknownVolume = 'vol_00000000000000000000000000';

describe.each(backends)('instances, volumes and grants on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
  let volumeRoot: string;

  const call = callerOf(() => app);

  async function instance(t: Tenant, name: string): Promise<string> {
    const res = await call('POST', `/v1/domains/${t.id}/instances`, {
      tenant: t,
      credential: 'key',
      body: { name },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  async function volume(t: Tenant, name: string, sizeBytes = 64 * 1024): Promise<string> {
    const res = await call('POST', `/v1/domains/${t.id}/volumes`, {
      tenant: t,
      credential: 'key',
      body: { name, sizeBytes },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  beforeAll(async () => {
    volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-volumes-test-'));
    services = await openTestServices(backend, { volumeRoot, maxVolumeBytes: 4 * 1024 * 1024 });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await createTenant(app, operatorToken, `cmp-a-${process.pid}`);
    b = await createTenant(app, operatorToken, `cmp-b-${process.pid}`);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  });

  it.each(['key', 'token', 'session'] as const)(
    'runs the life cycle with a %s of the domain',
    async (credential) => {
      const base = `/v1/domains/${a.id}`;
      const i = await call('POST', `${base}/instances`, {
        tenant: a,
        credential,
        body: { name: `web-${credential}` },
      });
      expect(i.statusCode, i.body).toBe(201);
      const instanceId = i.json<{ id: string }>().id;
      const v = await call('POST', `${base}/volumes`, {
        tenant: a,
        credential,
        body: { name: `data-${credential}`, sizeBytes: 4096 },
      });
      expect(v.statusCode, v.body).toBe(201);
      const volumeId = v.json<{ id: string }>().id;
      const attached = await call('POST', `${base}/volumes/${volumeId}/attach`, {
        tenant: a,
        credential,
        body: { instanceId },
      });
      expect(attached.statusCode, attached.body).toBe(200);
      expect(attached.json()).toMatchObject({ status: 'attached', instanceId });
      expect(
        (await call('DELETE', `${base}/volumes/${volumeId}`, { tenant: a, credential })).json(),
      ).toMatchObject({
        code: 'volume_attached',
      });
      const listed = await call('GET', `${base}/volumes`, { tenant: a, credential });
      expect(listed.json<{ items: { id: string }[] }>().items.map((x) => x.id)).toContain(volumeId);
      // Deleting the instance detaches (and keeps) its volume.
      expect(
        (await call('DELETE', `${base}/instances/${instanceId}`, { tenant: a, credential })).statusCode,
      ).toBe(200);
      expect(
        (await call('GET', `${base}/volumes/${volumeId}`, { tenant: a, credential })).json(),
      ).toMatchObject({
        status: 'available',
        instanceId: null,
      });
      const deleted = await call('DELETE', `${base}/volumes/${volumeId}`, { tenant: a, credential });
      expect(deleted.json()).toMatchObject({ status: 'deleting' });
      // Gone for the tenant at once, before the zeroing worker has finished.
      expect((await call('GET', `${base}/volumes/${volumeId}`, { tenant: a, credential })).statusCode).toBe(
        404,
      );
      // Deleting it again answers the volume as it is now, and changes nothing (docs/api.md, "Deleting twice").
      const again = await call('DELETE', `${base}/volumes/${volumeId}`, { tenant: a, credential });
      expect(again.statusCode, again.body).toBe(200);
      expect(['deleting', 'deleted']).toContain(again.json<{ status: string }>().status);
      const after = await call('GET', `${base}/volumes`, { tenant: a, credential });
      expect(after.json<{ items: { id: string }[] }>().items.map((x) => x.id)).not.toContain(volumeId);
    },
  );

  it("answers B's instance id in an attach exactly like an unknown instance, and attaches nothing", async () => {
    const aVolume = await volume(a, 'home');
    const bInstance = await instance(b, 'foreign');
    const before = await domainState(services, b.id);
    for (const credential of ['key', 'token', 'session'] as const) {
      const url = `/v1/domains/${a.id}/volumes/${aVolume}/attach`;
      const foreign = await call('POST', url, { tenant: a, credential, body: { instanceId: bInstance } });
      const unknown = await call('POST', url, {
        tenant: a,
        credential,
        body: { instanceId: unknownInstance },
      });
      expect(foreign.statusCode).toBe(404);
      expect(comparable(foreign)).toEqual(comparable(unknown));
    }
    expect(
      (await call('GET', `/v1/domains/${a.id}/volumes/${aVolume}`, { tenant: a, credential: 'key' })).json(),
    ).toMatchObject({
      status: 'available',
      instanceId: null,
    });
    expect(await domainState(services, b.id)).toEqual(before);
  });

  it('refuses an attachment across domains in the database itself', async () => {
    const aVolume = await volume(a, 'db-check');
    const bInstance = await instance(b, 'db-check');
    // Even as the owner, past row-level security, the composite foreign key refuses it.
    await expect(
      asOwner(services.store, (tx) =>
        tx
          .updateTable('volumes')
          .set({ status: 'attached', instance_id: bInstance })
          .where('id', '=', aVolume)
          .execute(),
      ),
    ).rejects.toThrow(/foreign key/);
  });

  it('ignores or refuses a domain smuggled into the body, query or headers', async () => {
    const smuggled = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/instances`,
      headers: { ...credentialHeaders(a, 'key', operatorToken), 'x-domain-id': b.id, 'x-tenant-id': b.id },
      payload: { name: 'smuggle', domainId: b.id },
    });
    expect(smuggled.json()).toMatchObject({ code: 'unknown_field' });
    const withHeader = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/instances`,
      headers: { ...credentialHeaders(a, 'key', operatorToken), 'x-domain-id': b.id },
      payload: { name: 'header-only' },
    });
    expect(withHeader.json()).toMatchObject({ domainId: a.id });
    const query = await call('GET', `/v1/domains/${a.id}/volumes?domainId=${b.id}`, {
      tenant: a,
      credential: 'key',
    });
    expect(query.statusCode).toBe(400);
  });

  it('zeroes every byte of a deleted volume in the background before releasing it', async () => {
    const id = await volume(a, 'secret-disk', 3 * 1024 * 1024 + 17);
    const disks = new VolumeDisks(volumeRoot);
    const path = disks.path({ domainId: a.id, volumeId: id });
    const secret = Buffer.from('TOP-SECRET-'.repeat(1000));
    writeFileSync(path, secret, { flag: 'r+' });
    // A process that still holds the file open keeps its blocks: it must read zeros after the delete.
    const fd = openSync(path, 'r');
    try {
      const res = await call('DELETE', `/v1/domains/${a.id}/volumes/${id}`, { tenant: a, credential: 'key' });
      expect(res.json()).toMatchObject({ status: 'deleting' });
      await services.compute.zeroing();
      expect(await disks.exists({ domainId: a.id, volumeId: id })).toBe(false);
      const size = 3 * 1024 * 1024 + 17;
      const seen = Buffer.alloc(size);
      expect(readSync(fd, seen, 0, size, 0)).toBe(size);
      expect(seen.every((byte) => byte === 0)).toBe(true);
    } finally {
      closeSync(fd);
    }
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: a.id, action: 'volume.deleted' }),
    );
    expect(events.at(-1)).toMatchObject({ target: id, detail: { zeroedBytes: 3 * 1024 * 1024 + 17 } });
  });

  it('finishes a deletion a crash interrupted, zeroing the volume', async () => {
    const id = await volume(a, 'interrupted');
    const disks = new VolumeDisks(volumeRoot);
    writeFileSync(disks.path({ domainId: a.id, volumeId: id }), Buffer.from('LEFTOVER'), { flag: 'r+' });
    await asOwner(services.store, (tx) =>
      tx.updateTable('volumes').set({ status: 'deleting' }).where('id', '=', id).execute(),
    );
    const report = await services.compute.reconcile();
    expect(report.deleting).toBeGreaterThanOrEqual(1);
    await services.compute.zeroing();
    expect(await disks.exists({ domainId: a.id, volumeId: id })).toBe(false);
    expect(
      (await call('GET', `/v1/domains/${a.id}/volumes/${id}`, { tenant: a, credential: 'key' })).statusCode,
    ).toBe(404);
  });

  it('reads a volume and an instance without locking their rows', async () => {
    const instanceId = await instance(a, 'read-only');
    const volumeId = await volume(a, 'read-only');
    // A row lock is written into the row (its xmax): a read that locked would queue reads of the same
    // row behind one another and make every read's commit wait for the log.
    const lockers = () =>
      asOwner(services.store, async (tx) => [
        (
          await sql<{
            xmax: string;
          }>`SELECT xmax::text AS xmax FROM instances WHERE id = ${instanceId}`.execute(tx)
        ).rows[0]?.xmax,
        (
          await sql<{ xmax: string }>`SELECT xmax::text AS xmax FROM volumes WHERE id = ${volumeId}`.execute(
            tx,
          )
        ).rows[0]?.xmax,
      ]);
    expect(await lockers()).toEqual(['0', '0']);
    for (const credential of ['key', 'token', 'session'] as const) {
      const i = await call('GET', `/v1/domains/${a.id}/instances/${instanceId}`, { tenant: a, credential });
      const v = await call('GET', `/v1/domains/${a.id}/volumes/${volumeId}`, { tenant: a, credential });
      expect([i.statusCode, v.statusCode]).toEqual([200, 200]);
    }
    expect(await lockers()).toEqual(['0', '0']);
  });

  it('refuses a volume over the size limit with its own code and creates nothing', async () => {
    const res = await call('POST', `/v1/domains/${a.id}/volumes`, {
      tenant: a,
      credential: 'key',
      body: { name: 'huge', sizeBytes: 5 * 1024 * 1024 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'volume_too_large' });
    const names = (await call('GET', `/v1/domains/${a.id}/volumes`, { tenant: a, credential: 'key' })).json<{
      items: { name: string }[];
    }>();
    expect(names.items.map((v) => v.name)).not.toContain('huge');
  });

  describe('grants', () => {
    it('opens exactly the named action and resource, audits each use with both domains, and closes at once on revoke', async () => {
      const bVolume = await volume(b, 'shared');
      const bOther = await volume(b, 'private');
      const url = `/v1/domains/${b.id}/volumes/${bVolume}`;
      const before = await call('GET', url, { tenant: a, credential: 'key' });
      const unknown = await call('GET', `/v1/domains/${b.id}/volumes/${unknownVolume}`, {
        tenant: a,
        credential: 'key',
      });
      expect(before.statusCode).toBe(404);
      expect(comparable(before)).toEqual(comparable(unknown));

      const created = await call('POST', '/v1/grants', {
        credential: 'operator',
        body: {
          from: a.id,
          to: b.id,
          actions: ['volumes.read'],
          resources: [bVolume],
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          reason: 'support case 42',
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const grant = created.json<{ id: string }>();

      for (const credential of ['key', 'token', 'session'] as const) {
        const res = await call('GET', url, { tenant: a, credential });
        expect(res.statusCode, `${credential}: ${res.body}`).toBe(200);
        expect(res.json()).toMatchObject({ id: bVolume, domainId: b.id });
      }
      // Not another volume, not the list (no `*`), not a write.
      expect(
        (await call('GET', `/v1/domains/${b.id}/volumes/${bOther}`, { tenant: a, credential: 'key' }))
          .statusCode,
      ).toBe(404);
      expect(
        (await call('GET', `/v1/domains/${b.id}/volumes`, { tenant: a, credential: 'key' })).statusCode,
      ).toBe(404);
      const stateBefore = await domainState(services, b.id);
      expect((await call('DELETE', url, { tenant: a, credential: 'key' })).statusCode).toBe(404);
      expect((await call('POST', `${url}/detach`, { tenant: a, credential: 'key' })).statusCode).toBe(404);
      expect(await domainState(services, b.id)).toEqual(stateBefore);
      // A grant is one way: B gains nothing in A.
      const aVolume = await volume(a, 'one-way');
      expect(
        (await call('GET', `/v1/domains/${a.id}/volumes/${aVolume}`, { tenant: b, credential: 'key' }))
          .statusCode,
      ).toBe(404);

      const uses = await asOwner(services.store, (tx) =>
        listAudit(tx, { domainId: b.id, action: 'grant.use', limit: 1000 }),
      );
      expect(uses.length).toBe(3);
      expect(uses[0]).toMatchObject({
        target: bVolume,
        detail: { grantId: grant.id, fromDomainId: a.id, toDomainId: b.id, action: 'volumes.read' },
      });

      const revoked = await call('DELETE', `/v1/grants/${grant.id}`, { credential: 'operator' });
      expect(revoked.json<{ revokedAt: string | null }>().revokedAt).not.toBeNull();
      const after = await call('GET', url, { tenant: a, credential: 'key' });
      expect(after.statusCode).toBe(404);
      expect(comparable(after)).toEqual(comparable(unknown));
    });

    it('ends at its expiry, for the very next request', async () => {
      const bVolume = await volume(b, 'short-lived');
      const created = await call('POST', '/v1/grants', {
        credential: 'operator',
        body: {
          from: a.id,
          to: b.id,
          actions: ['volumes.read', 'volumes.write'],
          resources: ['*'],
          expiresAt: new Date(Date.now() + 1_500).toISOString(),
          reason: 'migration window',
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(
        (await call('GET', `/v1/domains/${b.id}/volumes`, { tenant: a, credential: 'key' })).statusCode,
      ).toBe(200);
      await new Promise((r) => setTimeout(r, 1_700));
      expect(
        (await call('GET', `/v1/domains/${b.id}/volumes/${bVolume}`, { tenant: a, credential: 'key' }))
          .statusCode,
      ).toBe(404);
      expect(
        (await call('GET', `/v1/domains/${b.id}/volumes`, { tenant: a, credential: 'key' })).statusCode,
      ).toBe(404);
    });

    it('refuses grants of secrets, to itself, of the past, and from a tenant', async () => {
      const body = (over: Record<string, unknown>) => ({
        from: a.id,
        to: b.id,
        actions: ['volumes.read'],
        resources: ['*'],
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
        reason: 'x',
        ...over,
      });
      const codes = async (over: Record<string, unknown>) =>
        (await call('POST', '/v1/grants', { credential: 'operator', body: body(over) })).json<{
          code: string;
        }>().code;
      expect(await codes({ actions: ['keys.read'] })).toBe('invalid_request');
      expect(await codes({ to: a.id })).toBe('invalid_request');
      expect(await codes({ expiresAt: new Date(Date.now() - 1000).toISOString() })).toBe('invalid_request');
      expect(await codes({ expiresAt: new Date(Date.now() + 91 * 86_400_000).toISOString() })).toBe(
        'invalid_request',
      );
      expect(await codes({ resources: ['../etc'] })).toBe('invalid_request');
      expect(await codes({ to: 'dom_00000000000000000000000000' })).toBe('not_found');
      const byTenant = await call('POST', '/v1/grants', { tenant: a, credential: 'key', body: body({}) });
      expect(byTenant.json()).toMatchObject({ code: 'operator_required' });
    });
  });
});
