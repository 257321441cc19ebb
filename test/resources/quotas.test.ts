// Quotas under concurrency, on both stores: many writes at once never take a domain past its storage
// quota, its instance, volume and resource counts, or its volume bytes; the refused ones store nothing.
// A reservation whose writer died is measured and released. A deleted volume is gone at once, and the
// background worker zeroes it afterwards, at the configured rate.
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { ObjectProvider } from '../../src/providers/provider.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import { VolumeDisks } from '../../src/providers/storage/volume-disks.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, createDomainWithKey, operatorToken, unique } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { tempDir } from '../helpers/processes.js';

const MiB = 1024 * 1024;
const zeroRate = 2 * MiB;

/** A PUT over real HTTP whose body is sent in chunks, with no declared length. */
function chunkedPut(url: string, key: string, bytes: number): Promise<{ statusCode: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'PUT', agent: false, headers: { authorization: `Bearer ${key}`, connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (body += piece));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    const piece = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const more = (): void => {
      while (sent < bytes) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

describe.each(backends)('quotas under concurrency on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let storage: ObjectProvider;
  let dir: { path: string; remove(): void };
  let volumeRoot: string;

  const call = callerOf(() => app);
  const domain = (quotas?: Record<string, number>) =>
    createDomainWithKey(call, { slug: unique('quota'), name: 'q', quotas });

  async function bucket(d: { id: string; key: string }): Promise<string> {
    const r = await call('POST', `/v1/domains/${d.id}/resources`, {
      token: d.key,
      body: { kind: 'storage', name: unique('b') },
    });
    expect(r.statusCode, r.body).toBe(201);
    return r.json<{ id: string }>().id;
  }

  const usedBytes = async (d: { id: string; key: string }, resourceId: string) =>
    (await call('GET', `/v1/domains/${d.id}/resources/${resourceId}`, { token: d.key })).json<{
      usedBytes: number;
    }>().usedBytes;

  const reservations = async (domainId: string) =>
    (
      await asOwner(services.store, (tx) =>
        tx.selectFrom('storage_reservations').select('id').where('domain_id', '=', domainId).execute(),
      )
    ).length;

  const objectsOnDisk = async (domainId: string, resourceId: string) =>
    (await storage.inspect({ domainId, resourceId })).details as { objects: number; otherFiles: number };

  beforeAll(async () => {
    dir = tempDir('bulkhead-quotas-');
    volumeRoot = `${dir.path}/volumes`;
    const bound: { keyring?: Keyring } = {};
    storage = await createStorageProvider({
      root: `${dir.path}/storage`,
      dataKeys: {
        dataKey: (domainId) => {
          if (bound.keyring === undefined) throw new Error('keyring not bound');
          return bound.keyring.dataKey(domainId);
        },
      },
      maxObjectBytes: 4 * MiB,
    });
    services = await openTestServices(backend, {
      providers: new Map([['storage', storage]]),
      maxObjectBytes: 4 * MiB,
      leaseMs: 2_000,
      volumeRoot,
      maxVolumeBytes: 8 * MiB,
      quotas: {
        resourcesPerKind: 10,
        storageBytes: 1024 * MiB,
        instances: 4,
        volumes: 4,
        volumeBytes: 16 * MiB,
      },
      volumeZeroBytesPerSecond: zeroRate,
      // Twenty requests of one domain at once is the point here: its share of the server (a separate
      // guarantee, test/api/fair-share.test.ts) must not be what refuses them.
      tenantLimits: { requestsPerSecond: 0, requestBurst: 1, concurrentRequests: 0 },
    });
    bound.keyring = services.keyring;
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    dir.remove();
  });

  it('lets 20 parallel 1 MiB writes past a 1 MiB quota store one of them, and refuses the rest', async () => {
    const d = await domain({ storageBytes: MiB });
    const resourceId = await bucket(d);
    const base = `/v1/domains/${d.id}/resources/${resourceId}/objects`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call('PUT', `${base}/part-${i}`, { token: d.key, body: Buffer.alloc(MiB, i + 1) }),
      ),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    for (const refused of answers.filter((a) => a.statusCode !== 200)) {
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ code: 'quota_exceeded' });
    }
    expect(await usedBytes(d, resourceId)).toBe(MiB);
    // The refused writes left nothing: one object on disk, no temporary file, no reservation.
    expect(await objectsOnDisk(d.id, resourceId)).toMatchObject({ objects: 1, otherFiles: 0 });
    expect(await reservations(d.id)).toBe(0);
    for (const [i, a] of answers.entries()) {
      const got = await call('GET', `${base}/part-${i}`, { token: d.key });
      expect(got.statusCode).toBe(a.statusCode === 200 ? 200 : 404);
    }
  });

  it('holds the quota for parallel writes that do not declare their length', async () => {
    const d = await domain({ storageBytes: MiB });
    const resourceId = await bucket(d);
    const base = `/v1/domains/${d.id}/resources/${resourceId}/objects`;
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => chunkedPut(`${url}${base}/streamed-${i}`, d.key, MiB)),
    );
    expect(answers.filter((a) => a.statusCode === 200).length).toBeLessThanOrEqual(1);
    for (const refused of answers.filter((a) => a.statusCode !== 200))
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'quota_exceeded' });
    expect(await usedBytes(d, resourceId)).toBeLessThanOrEqual(MiB);
    expect((await objectsOnDisk(d.id, resourceId)).otherFiles).toBe(0);
    expect(await reservations(d.id)).toBe(0);
  });

  it('counts an overwrite once: the replaced object no longer counts', async () => {
    const d = await domain({ storageBytes: 2 * MiB });
    const resourceId = await bucket(d);
    const base = `/v1/domains/${d.id}/resources/${resourceId}/objects`;
    expect((await call('PUT', `${base}/k`, { token: d.key, body: Buffer.alloc(MiB, 1) })).statusCode).toBe(
      200,
    );
    expect((await call('PUT', `${base}/k`, { token: d.key, body: Buffer.alloc(MiB, 2) })).statusCode).toBe(
      200,
    );
    expect(await usedBytes(d, resourceId)).toBe(MiB);
    expect((await call('PUT', `${base}/j`, { token: d.key, body: Buffer.alloc(MiB, 3) })).statusCode).toBe(
      200,
    );
    expect(await usedBytes(d, resourceId)).toBe(2 * MiB);
    const over = await call('PUT', `${base}/l`, { token: d.key, body: Buffer.alloc(1) });
    expect(over.json()).toMatchObject({ code: 'quota_exceeded' });
    // The quota spans every storage resource of the domain.
    const other = await bucket(d);
    const elsewhere = await call('PUT', `/v1/domains/${d.id}/resources/${other}/objects/x`, {
      token: d.key,
      body: 'x',
    });
    expect(elsewhere.json()).toMatchObject({ code: 'quota_exceeded' });
    // Deleting gives the room back.
    expect((await call('DELETE', `${base}/k`, { token: d.key })).statusCode).toBe(204);
    expect(await usedBytes(d, resourceId)).toBe(MiB);
    expect((await call('PUT', `${base}/l`, { token: d.key, body: Buffer.alloc(MiB) })).statusCode).toBe(200);
  });

  it('counts a live reservation, and measures and releases one whose writer died', async () => {
    const d = await domain({ storageBytes: 2 * MiB });
    const resourceId = await bucket(d);
    const ref = { domainId: d.id, resourceId };
    const base = `/v1/domains/${d.id}/resources/${resourceId}/objects`;
    // A writer in flight holds the whole quota: nothing else fits meanwhile.
    const held = await services.storageQuota.reserve(ref, { exactly: 2 * MiB });
    expect((await call('PUT', `${base}/a`, { token: d.key, body: Buffer.alloc(1) })).json()).toMatchObject({
      code: 'quota_exceeded',
    });
    // It stored 1 MiB and died before recording it: the object is on disk, counted only as reserved.
    await storage.putObject(ref, 'written-before-the-crash', Readable.from([Buffer.alloc(MiB, 9)]), MiB);
    expect(await services.storageQuota.releaseAbandoned()).toBe(0); // its lease has not run out
    await asOwner(services.store, (tx) =>
      tx
        .updateTable('storage_reservations')
        .set({ lease_until: new Date(Date.now() - 1000) })
        .where('id', '=', held.id)
        .execute(),
    );
    expect(await services.storageQuota.releaseAbandoned()).toBe(1);
    expect(await reservations(d.id)).toBe(0);
    expect(await usedBytes(d, resourceId)).toBe(MiB);
    expect((await call('PUT', `${base}/b`, { token: d.key, body: Buffer.alloc(MiB) })).statusCode).toBe(200);
    expect((await call('PUT', `${base}/c`, { token: d.key, body: Buffer.alloc(1) })).json()).toMatchObject({
      code: 'quota_exceeded',
    });
  });

  it('creates at most the per-kind number of resources when creates race', async () => {
    const d = await domain({ storage: 3 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call('POST', `/v1/domains/${d.id}/resources`, {
          token: d.key,
          body: { kind: 'storage', name: `race-${i}` },
        }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(3);
    for (const refused of answers.filter((a) => a.statusCode !== 201))
      expect(refused.json()).toMatchObject({ code: 'quota_exceeded' });
    const owned = (await storage.listOwned()).filter((o) => o.ref.domainId === d.id);
    expect(owned).toHaveLength(3);
  });

  it('limits instances per domain: the default, a pool override, and parallel creates', async () => {
    const d = await domain();
    const pool = await call('GET', `/v1/domains/${d.id}/pool`, { token: d.key });
    expect(pool.json()).toMatchObject({ quotas: { instances: 4, volumes: 4, volumeBytes: 16 * MiB } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call('POST', `/v1/domains/${d.id}/instances`, { token: d.key, body: { name: `i${i}` } }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(4);
    for (const refused of answers.filter((a) => a.statusCode !== 201))
      expect(refused.json()).toMatchObject({ code: 'quota_exceeded' });
    const live = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('instances')
        .select('id')
        .where('domain_id', '=', d.id)
        .where('status', '<>', 'deleted')
        .execute(),
    );
    expect(live).toHaveLength(4);
    // Another domain's count is its own; an override raises one domain's limit only.
    const e = await domain({ instances: 6 });
    for (let i = 0; i < 6; i++)
      expect(
        (await call('POST', `/v1/domains/${e.id}/instances`, { token: e.key, body: { name: `e${i}` } }))
          .statusCode,
      ).toBe(201);
    expect(
      (await call('POST', `/v1/domains/${e.id}/instances`, { token: e.key, body: { name: 'e6' } })).json(),
    ).toMatchObject({
      code: 'quota_exceeded',
    });
    // Deleting one makes room.
    const first = answers.find((a) => a.statusCode === 201)!.json<{ id: string }>().id;
    expect(
      (await call('DELETE', `/v1/domains/${d.id}/instances/${first}`, { token: d.key })).statusCode,
    ).toBe(200);
    expect(
      (await call('POST', `/v1/domains/${d.id}/instances`, { token: d.key, body: { name: 'again' } }))
        .statusCode,
    ).toBe(201);
  });

  it('limits volumes and volume bytes per domain under parallel creates, and stores no file for a refusal', async () => {
    const d = await domain({ volumes: 3 });
    const counted = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call('POST', `/v1/domains/${d.id}/volumes`, {
          token: d.key,
          body: { name: `v${i}`, sizeBytes: 4096 },
        }),
      ),
    );
    expect(counted.filter((a) => a.statusCode === 201)).toHaveLength(3);
    for (const refused of counted.filter((a) => a.statusCode !== 201))
      expect(refused.json()).toMatchObject({ code: 'quota_exceeded' });
    const e = await domain({ volumeBytes: 2 * MiB });
    const sized = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call('POST', `/v1/domains/${e.id}/volumes`, {
          token: e.key,
          body: { name: `s${i}`, sizeBytes: MiB },
        }),
      ),
    );
    expect(sized.filter((a) => a.statusCode === 201)).toHaveLength(2);
    const files = (await new VolumeDisks(volumeRoot).list()).filter((f) => f.domainId === e.id);
    expect(files).toHaveLength(2);
  });

  it('answers a volume delete at once, and the worker zeroes it afterwards at the configured rate', async () => {
    const d = await domain();
    const size = 4 * MiB;
    const created = await call('POST', `/v1/domains/${d.id}/volumes`, {
      token: d.key,
      body: { name: 'secret', sizeBytes: size },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const disks = new VolumeDisks(volumeRoot);
    const path = disks.path({ domainId: d.id, volumeId: id });
    writeFileSync(path, Buffer.alloc(size, 0x5a), { flag: 'r+' });
    const fd = openSync(path, 'r');
    try {
      const started = Date.now();
      const deleted = await call('DELETE', `/v1/domains/${d.id}/volumes/${id}`, { token: d.key });
      const answeredIn = Date.now() - started;
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(deleted.json()).toMatchObject({ status: 'deleting' });
      // Zeroing 4 MiB at 2 MiB/s takes two seconds; the answer did not wait for it.
      expect(answeredIn).toBeLessThan(1000);
      expect((await call('GET', `/v1/domains/${d.id}/volumes/${id}`, { token: d.key })).statusCode).toBe(404);
      const attach = await call('POST', `/v1/domains/${d.id}/volumes/${id}/attach`, {
        token: d.key,
        body: { instanceId: 'ins_00000000000000000000000000' },
      });
      expect(attach.statusCode).toBe(404);
      await services.compute.zeroing();
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual((size / zeroRate) * 1000 * 0.9);
      expect(await disks.exists({ domainId: d.id, volumeId: id })).toBe(false);
      const seen = Buffer.alloc(size);
      expect(readSync(fd, seen, 0, size, 0)).toBe(size);
      expect(seen.every((byte) => byte === 0)).toBe(true);
    } finally {
      closeSync(fd);
    }
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: d.id, action: 'volume.deleted' }),
    );
    expect(events.at(-1)).toMatchObject({ target: id, detail: { zeroedBytes: size } });
    const row = await asOwner(services.store, (tx) =>
      sql<{ status: string }>`SELECT status FROM volumes WHERE id = ${id}`.execute(tx),
    );
    expect(row.rows[0]?.status).toBe('deleted');
  });

  it('keeps a volume being zeroed in the quota until its bytes are gone', async () => {
    const d = await domain({ volumeBytes: 4 * MiB });
    const first = await call('POST', `/v1/domains/${d.id}/volumes`, {
      token: d.key,
      body: { name: 'big', sizeBytes: 4 * MiB },
    });
    expect(first.statusCode, first.body).toBe(201);
    const id = first.json<{ id: string }>().id;
    // Written, so the zeroing has real blocks to cover and takes its time.
    writeFileSync(
      new VolumeDisks(volumeRoot).path({ domainId: d.id, volumeId: id }),
      Buffer.alloc(4 * MiB, 1),
      {
        flag: 'r+',
      },
    );
    expect((await call('DELETE', `/v1/domains/${d.id}/volumes/${id}`, { token: d.key })).statusCode).toBe(
      200,
    );
    const meanwhile = await call('POST', `/v1/domains/${d.id}/volumes`, {
      token: d.key,
      body: { name: 'big', sizeBytes: MiB },
    });
    expect(meanwhile.json()).toMatchObject({ code: 'quota_exceeded' });
    await services.compute.zeroing();
    const after = await call('POST', `/v1/domains/${d.id}/volumes`, {
      token: d.key,
      body: { name: 'big', sizeBytes: 4 * MiB },
    });
    expect(after.statusCode, after.body).toBe(201);
  });
});
