// The shredding guarantee: once an object is deleted or replaced, or its resource deleted, neither its
// plaintext, nor its object key, nor the wrapped key is anywhere under the storage root, and the freed
// files themselves were overwritten with zeros (checked through handles held open across the deletion,
// which still see the very inodes that were unlinked). Before deletion, plaintext is never on disk.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backendName, type ResourceRef } from '../../src/providers/provider.js';
import {
  CHUNK_SIZE,
  deriveStorageKeys,
  HEADER_BYTES,
  objectFileName,
  openHeader,
  wrappedKeyBytes,
} from '../../src/providers/storage/storage-crypto.js';
import {
  filesUnder,
  newRef,
  openStorage,
  readAll,
  streamOf,
  type StorageFixture,
} from '../helpers/storage.js';

let s: StorageFixture;
const held: number[] = [];
beforeEach(async () => {
  s = await openStorage();
});
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
  s.remove();
});

const objectsDir = (ref: ResourceRef) => join(s.root, backendName(ref), 'objects');

/** Opens a file and keeps the handle, so its inode can be read after it is unlinked. */
function hold(path: string): { fd: number; size: number } {
  const fd = openSync(path, 'r');
  held.push(fd);
  return { fd, size: fstatSync(fd).size };
}

/** All bytes of a held file, from its first byte to its current end. */
function bytesOf(fd: number): Buffer {
  const out = Buffer.alloc(fstatSync(fd).size);
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

function expectZeroed(file: { fd: number; size: number }): void {
  const bytes = bytesOf(file.fd);
  // Same length as before (overwritten in place, not truncated away) and nothing but zeros.
  expect(bytes.length).toBe(file.size);
  expect(bytes.every((b) => b === 0)).toBe(true);
}

/** The unwrapped object key and wrapped-key bytes of every object file of a resource, via its domain key. */
async function secretsOf(ref: ResourceRef): Promise<Buffer[]> {
  const { wrapKey } = deriveStorageKeys(await s.dataKeys.dataKey(ref.domainId));
  const secrets: Buffer[] = [];
  for (const name of readdirSync(objectsDir(ref)).filter((n) => /^[0-9a-f]{64}$/.test(n))) {
    const bytes = readFileSync(join(objectsDir(ref), name));
    const header = bytes.subarray(0, HEADER_BYTES);
    const opened = openHeader(header, bytes.length, wrapKey, {
      resourceName: backendName(ref),
      fileName: name,
    });
    secrets.push(Buffer.from(opened.objectKey), wrappedKeyBytes(header));
  }
  return secrets;
}

/** Every occurrence of any needle in any file under the root (and the temporary parent around it). */
function foundOnDisk(needles: Buffer[]): string[] {
  const hits: string[] = [];
  for (const { path, bytes } of filesUnder(dirname(s.root))) {
    needles.forEach((needle, i) => {
      if (bytes.includes(needle)) hits.push(`${i} in ${path}`);
    });
  }
  return hits;
}

/** Plaintext in which the marker appears many times, across chunk boundaries too. */
function withMarker(marker: Buffer, size: number): Buffer {
  const data = randomBytes(size);
  for (let at = 0; at + marker.length <= size; at += 9_973) marker.copy(data, at);
  return data;
}

describe('shredding', () => {
  it('leaves no plaintext, object key or wrapped key after deleteObject, replacement and delete(ref)', async () => {
    const ref = newRef();
    const bystander = newRef();
    await s.provider.create(ref);
    await s.provider.create(bystander);
    const marker = Buffer.from(`BULKHEAD-SHRED-MARKER-${randomBytes(8).toString('hex')}`);
    const contents = {
      small: withMarker(marker, 300),
      multi: withMarker(marker, 3 * CHUNK_SIZE + 777),
      replaced: withMarker(marker, CHUNK_SIZE + 1),
      deleted: withMarker(marker, 50_000),
    };
    for (const [key, data] of Object.entries(contents))
      await s.provider.putObject(ref, key, streamOf(data), 1e7);
    const bystanderData = randomBytes(2000);
    await s.provider.putObject(bystander, 'kept', streamOf(bystanderData), 1e7);

    // Encrypted at rest: the marker is nowhere on disk, nor is any object key in the clear.
    const secrets = await secretsOf(ref);
    expect(secrets).toHaveLength(8);
    expect(foundOnDisk([marker])).toEqual([]);
    const objectKeys = secrets.filter((_, i) => i % 2 === 0);
    expect(foundOnDisk(objectKeys)).toEqual([]);
    // The search itself works: the wrapped keys are on disk, in the headers, until deletion.
    expect(foundOnDisk(secrets.filter((_, i) => i % 2 === 1))).toHaveLength(4);

    const files = new Map(
      readdirSync(objectsDir(ref)).map((name) => [name, hold(join(objectsDir(ref), name))]),
    );
    // A temporary file left by a crash, holding plaintext-like bytes: delete(ref) must shred it too.
    const leftoverPath = join(objectsDir(ref), `${'0'.repeat(64)}.tmp-0123456789abcdef`);
    writeFileSync(leftoverPath, withMarker(marker, 5000), { mode: 0o600 });
    const leftover = hold(leftoverPath);

    // The file of the replaced object (same name, new inode) and of the deleted one, by their keyed names.
    const { nameKey } = deriveStorageKeys(await s.dataKeys.dataKey(ref.domainId));
    const fileOf = (key: string) => files.get(objectFileName(nameKey, Buffer.from(key)))!;
    await s.provider.putObject(ref, 'replaced', streamOf(randomBytes(10)), 1e7);
    expectZeroed(fileOf('replaced'));
    expect(readdirSync(objectsDir(ref))).toHaveLength(5);

    await s.provider.deleteObject(ref, 'deleted');
    expectZeroed(fileOf('deleted'));
    expect(readdirSync(objectsDir(ref))).toHaveLength(4);
    for (const key of ['small', 'multi']) expect(bytesOf(fileOf(key).fd).some((b) => b !== 0)).toBe(true);
    secrets.push(...(await secretsOf(ref)));

    await s.provider.delete(ref);
    for (const file of files.values()) expectZeroed(file);
    expectZeroed(leftover);
    expect(readdirSync(s.root)).toEqual([backendName(bystander)]);
    expect(foundOnDisk([marker, ...secrets])).toEqual([]);
    // The other resource is untouched.
    expect((await readAll((await s.provider.getObject(bystander, 'kept'))!.body)).equals(bystanderData)).toBe(
      true,
    );
  });

  it('overwrites the temporary file of a write refused for size', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const marker = Buffer.from(`BULKHEAD-SHRED-MARKER-${randomBytes(8).toString('hex')}`);
    const body = new PassThrough();
    const put = s.provider.putObject(ref, 'k', body, 300_000);
    body.write(withMarker(marker, 200_000));
    let temp: string | undefined;
    for (let i = 0; i < 200 && temp === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const name = readdirSync(objectsDir(ref)).find((n) => n.includes('.tmp-'));
      if (name !== undefined && statSync(join(objectsDir(ref), name)).size > 0)
        temp = join(objectsDir(ref), name);
    }
    expect(temp, 'the temporary file appeared').toBeDefined();
    const file = hold(temp!);
    expect(file.size).toBeGreaterThan(0);
    body.write(withMarker(marker, 200_000));
    await expect(put).rejects.toMatchObject({ code: 'object_too_large' });
    const bytes = bytesOf(file.fd);
    expect(bytes.length).toBeGreaterThanOrEqual(file.size);
    expect(bytes.every((b) => b === 0)).toBe(true);
    expect(readdirSync(objectsDir(ref))).toEqual([]);
    expect(foundOnDisk([marker])).toEqual([]);
    expect(basename(temp!)).toMatch(/^[0-9a-f]{64}\.tmp-[0-9a-f]{16}$/);
  });
});
