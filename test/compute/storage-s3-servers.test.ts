// Two servers on one PostgreSQL store that keep storage areas and volumes on one S3 store (s3rver, started
// here on a temporary directory, reached through the AWS SDK): an object written through one is read
// byte-exact through the other; a volume created on one and deleted through the other leaves no object
// in the store; deleting the domain leaves nothing under its prefix; and servers on S3 start beside one
// another, while a server with a local volume directory is still refused beside them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keyring } from '../../src/crypto/keyring.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { DataKeySource, Provider } from '../../src/providers/provider.js';
import { createS3StorageProvider } from '../../src/providers/storage/s3-objects.js';
import { S3VolumeDisks } from '../../src/providers/storage/s3-volumes.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { joinStore, VolumeDirNotShared } from '../../src/runtime/servers.js';
import type { Store } from '../../src/store/store.js';
import { backends, testSecret } from '../helpers/backends.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { startS3Server, type S3Server } from '../helpers/s3.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

describe('storage and volumes on S3 across two servers', () => {
  let store: Store & { drop(): Promise<void> };
  let s3: S3Server;
  const servers: { services: Services; app: App; storage: Provider; disks: S3VolumeDisks }[] = [];
  let a: Tenant;
  let keyring: Keyring | undefined;
  const dataKeys: DataKeySource = {
    dataKey: (domainId) => {
      if (keyring === undefined) throw new Error('the keyring is not ready');
      return keyring.dataKey(domainId);
    },
  };
  const call = (i: number) => callerOf(() => servers[i]!.app);

  beforeAll(async () => {
    store = await backends[1]!.open();
    s3 = await startS3Server();
    for (let i = 0; i < 2; i++) {
      const storage = await createS3StorageProvider({ s3: s3.location, dataKeys });
      const disks = new S3VolumeDisks(s3.location, dataKeys);
      const services = buildServices(store, testSecret, {
        providers: new Map([['storage', storage]]),
        slugQuarantineMs: 0,
        volumeDisks: disks,
        leaseMs: 2_000,
      });
      if (i === 0) keyring = services.keyring;
      await services.operator.initialise(operatorToken);
      servers.push({ services, app: await buildServer(services), storage, disks });
    }
    a = await createTenant(servers[0]!.app, operatorToken, `s3-servers-${process.pid}`);
  }, 60_000);

  afterAll(async () => {
    for (const { app, services, storage, disks } of servers) {
      await app.close();
      await services.compute.stop();
      await services.provisioner.stop();
      await storage.close();
      disks.close();
    }
    await store?.drop();
    await s3?.stop();
  });

  it('reads an object written through one server byte-exact through the other; the bucket holds ciphertext', async () => {
    const as = { tenant: a, credential: 'key' as const };
    const base = `/v1/domains/${a.id}`;
    const files = await call(0)('POST', `${base}/resources`, {
      ...as,
      body: { kind: 'storage', name: 'files' },
    });
    expect(files.statusCode, files.body).toBe(201);
    const id = files.json<{ id: string }>().id;
    const data = Buffer.concat([Buffer.from('A-SECRET-'), randomBytes(200_000)]);
    const put = await call(0)('PUT', `${base}/resources/${id}/objects/report.bin`, { ...as, body: data });
    expect(put.statusCode, put.body).toBe(200);
    const got = await call(1)('GET', `${base}/resources/${id}/objects/report.bin`, as);
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(data)).toBe(true);
    const keys = await s3.keys(`bulkhead/${a.id}/`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes('report'))).toBe(false);
    // The object deleted through the other server is gone from the bucket; a repeat answers as documented.
    const del = await call(1)('DELETE', `${base}/resources/${id}/objects/report.bin`, as);
    expect(del.statusCode, del.body).toBe(204);
    expect((await s3.keys(`bulkhead/${a.id}/`)).filter((k) => k.includes('/objects/'))).toEqual([]);
  });

  it('deletes through one server a volume created on the other: no object of it stays in the store', async () => {
    const as = { tenant: a, credential: 'key' as const };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = await call(0)('POST', `/v1/domains/${a.id}/volumes`, {
        ...as,
        body: { name: `v${i}`, sizeBytes: 256 * 1024 },
      });
      expect(v.statusCode, v.body).toBe(201);
      ids.push(v.json<{ id: string }>().id);
    }
    for (const id of ids) expect(await servers[1]!.disks.exists({ domainId: a.id, volumeId: id })).toBe(true);
    // Server 0 stops (as if killed): server 1 answers the deletes and its worker finishes them.
    await servers[0]!.services.compute.stop();
    for (const id of ids) {
      const d = await call(1)('DELETE', `/v1/domains/${a.id}/volumes/${id}`, as);
      expect(d.statusCode, d.body).toBe(200);
    }
    await servers[1]!.services.compute.reconcile();
    await servers[1]!.services.compute.zeroing();
    for (const id of ids) {
      expect(await servers[1]!.disks.exists({ domainId: a.id, volumeId: id })).toBe(false);
      const again = await call(0)('DELETE', `/v1/domains/${a.id}/volumes/${id}`, as);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json<{ status: string }>().status).toBe('deleted');
    }
    expect((await s3.keys(`bulkhead/${a.id}/volumes/`)).length).toBe(0);
  });

  it('deleting the domain leaves nothing under its prefix', async () => {
    const as = { tenant: a, credential: 'key' as const };
    const v = await call(1)('POST', `/v1/domains/${a.id}/volumes`, {
      ...as,
      body: { name: 'last', sizeBytes: 64 * 1024 },
    });
    expect(v.statusCode, v.body).toBe(201);
    const files = await call(1)('POST', `/v1/domains/${a.id}/resources`, {
      ...as,
      body: { kind: 'storage', name: 'more' },
    });
    const put = await call(1)(
      'PUT',
      `/v1/domains/${a.id}/resources/${files.json<{ id: string }>().id}/objects/x`,
      { ...as, body: Buffer.from('x') },
    );
    expect(put.statusCode, put.body).toBe(200);
    expect((await s3.keys(`bulkhead/${a.id}/`)).length).toBeGreaterThan(0);
    const deleted = await call(1)('DELETE', `/v1/domains/${a.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    const other = servers[1]!.services;
    await other.provisioner.reconcile();
    await other.compute.reconcile();
    await other.compute.zeroing();
    await other.purge.purge();
    await other.provisioner.reconcile();
    expect(await s3.keys(`bulkhead/${a.id}/`)).toEqual([]);
  });

  it('lets servers on S3 start beside one another and still refuses one with a local volume directory', async () => {
    const at = `s3://${s3.location.bucket}/${s3.location.prefix}@${s3.endpoint}`;
    const first = await joinStore(store, {
      volumeDir: at,
      volumeDirShared: true,
      everyMs: 60_000,
      host: 's3-one',
    });
    const second = await joinStore(store, {
      volumeDir: at,
      volumeDirShared: true,
      everyMs: 60_000,
      host: 's3-two',
    });
    try {
      await expect(
        joinStore(store, {
          volumeDir: '/var/lib/bulkhead/volumes',
          volumeDirShared: false,
          everyMs: 60_000,
          host: 'local',
        }),
      ).rejects.toBeInstanceOf(VolumeDirNotShared);
    } finally {
      await second.leave();
      await first.leave();
    }
  });
});
