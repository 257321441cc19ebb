// The S3 storage backend beyond the contract, against a real S3 server (s3rver on a temporary directory):
// objects come back byte-exact, the bucket holds only ciphertext, domain A's key and place cannot read
// B's objects, and a delete leaves no object in the store; once a domain's key is destroyed, a copy of its
// ciphertext kept anywhere (an old version, a backup) opens with nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { newId } from '../../src/domain/ids.js';
import type { DataKeySource, ObjectProvider } from '../../src/providers/provider.js';
import { isProviderError } from '../../src/providers/provider.js';
import {
  createS3StorageProvider,
  openWhole,
  type S3StorageProvider,
} from '../../src/providers/storage/s3-objects.js';
import { startS3Server, type S3Server } from '../helpers/s3.js';
import { newRef, readAll, streamOf } from '../helpers/storage.js';

/** A domain's key, until it is destroyed; a destroyed key is never made again (as the keyring does). */
class ShreddableKeys implements DataKeySource {
  private readonly keys = new Map<string, Buffer | null>();
  dataKey(domainId: string): Promise<Buffer> {
    let key = this.keys.get(domainId);
    if (key === null) return Promise.reject(new Error("the domain's data key was destroyed"));
    if (key === undefined) this.keys.set(domainId, (key = randomBytes(32)));
    return Promise.resolve(Buffer.from(key));
  }
  destroy(domainId: string): void {
    this.keys.get(domainId)?.fill(0);
    this.keys.set(domainId, null);
  }
}

let server: S3Server;
let storage: ObjectProvider;
const keys = new ShreddableKeys();

beforeAll(async () => {
  server = await startS3Server();
  storage = await createS3StorageProvider({ s3: server.location, dataKeys: keys, maxObjectBytes: 4 << 20 });
}, 30_000);
afterAll(async () => {
  await storage?.close();
  await server?.stop();
});

async function rawObject(key: string): Promise<Buffer> {
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.location.region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: server.location.bucket, Key: key }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

describe('storage on S3', () => {
  it('returns objects byte-exact, empty to several chunks, and the bucket holds only ciphertext', async () => {
    const ref = newRef();
    await storage.create(ref);
    for (const size of [0, 1, 65_536, 65_537, 300_001]) {
      const data = randomBytes(size);
      expect(await storage.putObject(ref, `object-${size}`, streamOf(data), 4 << 20)).toEqual({ size });
      const found = await storage.getObject(ref, `object-${size}`);
      expect(found?.size).toBe(size);
      expect((await readAll(found!.body)).equals(data)).toBe(true);
    }
    const marker = Buffer.from('plaintext marker that must not reach the bucket '.repeat(20));
    await storage.putObject(ref, 'named/object.txt', streamOf(marker), 1 << 20);
    const stored = await server.keys(`bulkhead/${ref.domainId}/`);
    expect(stored.some((key) => key.includes('named'))).toBe(false);
    for (const key of stored) {
      const bytes = await rawObject(key);
      expect(bytes.includes(marker.subarray(0, 40))).toBe(false);
    }
    expect(await storage.usedBytes(ref)).toBe(0 + 1 + 65_536 + 65_537 + 300_001 + marker.length);
  });

  it('refuses past the limit and stores nothing; refuses writes to a resource that does not exist', async () => {
    const ref = newRef();
    await storage.create(ref);
    const error: unknown = await storage
      .putObject(ref, 'big', streamOf(randomBytes(2000)), 1000)
      .catch((e: unknown) => e);
    expect(isProviderError(error, 'object_too_large')).toBe(true);
    expect(await storage.getObject(ref, 'big')).toBeNull();
    const missing: unknown = await storage
      .putObject(newRef(), 'x', streamOf(Buffer.from('x')), 10)
      .catch((e: unknown) => e);
    expect(isProviderError(missing, 'not_found')).toBe(true);
  });

  it("keeps domains apart: A's key and place do not open B's objects, and the probe finds nothing", async () => {
    const [a, b] = [newRef(), newRef()];
    const [credsA, credsB] = await Promise.all([storage.create(a), storage.create(b)]);
    const secret = randomBytes(5000);
    await storage.putObject(b, 'secret', streamOf(secret), 1 << 20);
    expect(await storage.getObject(a, 'secret')).toBeNull();
    const s3 = storage as S3StorageProvider;
    const inB = await s3.locate(b, 'secret');
    const inA = await s3.locate(a, 'secret');
    const sealed = await rawObject(inB.s3Key);
    expect(() => openWhole(sealed, inA.wrapKey, inA.context)).toThrow();
    expect(() => openWhole(sealed, inA.wrapKey, inB.context)).toThrow();
    // B's bytes placed where A's own object of that key would be do not open as A's.
    await s3.putBytes(inA.s3Key, sealed);
    const copied: unknown = await storage.getObject(a, 'secret').catch((e: unknown) => e);
    expect(isProviderError(copied, 'corrupt')).toBe(true);
    await s3.deleteKey(inA.s3Key);
    const report = await storage.probeIsolation(
      { ref: a, credentials: credsA },
      { ref: b, credentials: credsB },
    );
    expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
    expect(report.refused).toBe(true);
    expect((await readAll((await storage.getObject(b, 'secret'))!.body)).equals(secret)).toBe(true);
  });

  it('deletes an object and a resource leaving no object in the store; deleting again is fine', async () => {
    const ref = newRef();
    await storage.create(ref);
    await storage.putObject(ref, 'one', streamOf(randomBytes(100)), 1000);
    await storage.putObject(ref, 'two', streamOf(randomBytes(100)), 1000);
    expect(await storage.deleteObject(ref, 'one')).toBe(true);
    expect(await storage.deleteObject(ref, 'one')).toBe(false);
    expect(await storage.getObject(ref, 'one')).toBeNull();
    await Promise.all([storage.delete(ref), storage.delete(ref)]);
    expect(await server.keys(`bulkhead/${ref.domainId}/`)).toEqual([]);
    expect((await storage.listOwned()).filter((o) => o.ref.resourceId === ref.resourceId)).toEqual([]);
  });

  it('shreds a domain: once its key is destroyed, a kept copy of its ciphertext opens with nothing', async () => {
    const domainId = newId('domain');
    const ref = newRef(domainId);
    await storage.create(ref);
    const data = randomBytes(1000);
    await storage.putObject(ref, 'kept', streamOf(data), 1 << 20);
    const s3 = storage as S3StorageProvider;
    const located = await s3.locate(ref, 'kept');
    // What S3 versioning or a backup would keep after the delete.
    const kept = await rawObject(located.s3Key);
    expect(Buffer.concat(openWhole(kept, located.wrapKey, located.context)).equals(data)).toBe(true);
    await storage.delete(ref);
    keys.destroy(domainId);
    expect(await server.keys(`bulkhead/${domainId}/`)).toEqual([]);
    await expect(keys.dataKey(domainId)).rejects.toThrow(/destroyed/);
    await expect(storage.getObject(ref, 'kept')).rejects.toThrow(/destroyed/);
    // Any other key, in the right place, does not open it.
    const other = await s3.locate(newRef(), 'kept');
    expect(() => openWhole(kept, other.wrapKey, located.context)).toThrow();
  });
});
