// The storage provider on the real file system: objects round-trip at every size around the chunk
// boundary, limits refuse without leaving anything behind, bad keys never reach a path, permissions are
// owner-only, lifecycle calls are idempotent and concurrent writers of one key leave one whole object.
// What every provider promises (create, credentials, delete, idempotency, the probe both ways) is in
// contract.ts, run by storage-contract.test.ts.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backendName, hasObjects } from '../../src/providers/provider.js';
import { CHUNK_SIZE, sealedLength } from '../../src/providers/storage/storage-crypto.js';
import { ProviderError } from '../../src/providers/provider.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import {
  MemoryDataKeys,
  newRef,
  openStorage,
  pathsUnder,
  readAll,
  streamOf,
  type StorageFixture,
} from '../helpers/storage.js';

let s: StorageFixture;
beforeEach(async () => {
  s = await openStorage({ maxObjectBytes: 4 * 1024 * 1024 });
});
afterEach(() => s.remove());

const objectsDir = (ref: { domainId: string; resourceId: string }) =>
  join(s.root, backendName(ref), 'objects');
const mode = (path: string) => statSync(path).mode & 0o777;

describe('objects', () => {
  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['small', 1000],
    ['one byte short of a chunk', CHUNK_SIZE - 1],
    ['exactly one chunk', CHUNK_SIZE],
    ['one byte over a chunk', CHUNK_SIZE + 1],
    ['exactly two chunks', 2 * CHUNK_SIZE],
    ['1 MiB and 3 bytes', 1024 * 1024 + 3],
  ])('round-trips an object: %s', async (_name, size) => {
    const ref = newRef();
    await s.provider.create(ref);
    const data = randomBytes(size);
    expect(await s.provider.putObject(ref, 'a/b.bin', streamOf(data), 10 * 1024 * 1024)).toEqual({ size });
    const found = await s.provider.getObject(ref, 'a/b.bin');
    expect(found?.size).toBe(size);
    expect((await readAll(found!.body)).equals(data)).toBe(true);
    const [file, ...rest] = readdirSync(objectsDir(ref));
    expect(rest).toEqual([]);
    expect(file).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(objectsDir(ref), file!)).size).toBe(sealedLength(size, CHUNK_SIZE));
  });

  it('accepts any byte stream: strings, Uint8Arrays and one-byte pieces', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', Readable.from(['héllo ', new Uint8Array([1, 2, 3])]), 100);
    expect(await readAll((await s.provider.getObject(ref, 'k'))!.body)).toEqual(
      Buffer.concat([Buffer.from('héllo '), Buffer.from([1, 2, 3])]),
    );
    const data = randomBytes(300);
    await s.provider.putObject(ref, 'k2', streamOf(data, 1), 300);
    expect((await readAll((await s.provider.getObject(ref, 'k2'))!.body)).equals(data)).toBe(true);
  });

  it('replaces an object with the same key and leaves one file', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', streamOf(randomBytes(200_000)), 1e6);
    const second = randomBytes(70_000);
    expect(await s.provider.putObject(ref, 'k', streamOf(second), 1e6)).toEqual({ size: 70_000 });
    expect((await readAll((await s.provider.getObject(ref, 'k'))!.body)).equals(second)).toBe(true);
    expect(readdirSync(objectsDir(ref))).toHaveLength(1);
  });

  it('keys are exact: another key, or the same key in another resource, finds nothing', async () => {
    const ref = newRef();
    const other = newRef(ref.domainId);
    await s.provider.create(ref);
    await s.provider.create(other);
    await s.provider.putObject(ref, 'Key', streamOf(Buffer.from('x')), 10);
    expect(await s.provider.getObject(ref, 'key')).toBeNull();
    expect(await s.provider.getObject(ref, 'Key ')).toBeNull();
    expect(await s.provider.getObject(other, 'Key')).toBeNull();
    expect(await s.provider.deleteObject(other, 'Key')).toBe(false);
    const found = await s.provider.getObject(ref, 'Key');
    expect(await readAll(found!.body)).toEqual(Buffer.from('x'));
  });

  it('deletes an object; a second delete finds none', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', streamOf(randomBytes(10)), 10);
    expect(await s.provider.deleteObject(ref, 'k')).toBe(true);
    expect(await s.provider.getObject(ref, 'k')).toBeNull();
    expect(await s.provider.deleteObject(ref, 'k')).toBe(false);
    expect(readdirSync(objectsDir(ref))).toEqual([]);
  });

  it('counts used bytes as the sum of plaintext sizes', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    expect(await s.provider.usedBytes(ref)).toBe(0);
    await s.provider.putObject(ref, 'a', streamOf(randomBytes(CHUNK_SIZE + 5)), 1e6);
    await s.provider.putObject(ref, 'b', streamOf(Buffer.alloc(0)), 1e6);
    await s.provider.putObject(ref, 'c', streamOf(randomBytes(7)), 1e6);
    expect(await s.provider.usedBytes(ref)).toBe(CHUNK_SIZE + 12);
    await s.provider.deleteObject(ref, 'a');
    expect(await s.provider.usedBytes(ref)).toBe(7);
  });

  it('releases the file when a body is destroyed unread', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', streamOf(randomBytes(3 * CHUNK_SIZE)), 1e6);
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 20; i++) {
      const found = await s.provider.getObject(ref, 'k');
      found!.body.destroy();
      await new Promise((resolve) => found!.body.once('close', resolve));
    }
    expect(fds()).toBe(before);
  });
});

describe('limits', () => {
  it('refuses a stream one byte over the limit and leaves nothing behind', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const kept = randomBytes(5000);
    await s.provider.putObject(ref, 'kept', streamOf(kept), 1e6);
    await s.provider.putObject(ref, 'big', streamOf(randomBytes(1000)), 1e6);
    const before = readdirSync(objectsDir(ref)).sort();
    const limit = 3 * CHUNK_SIZE + 10;
    await expect(
      s.provider.putObject(ref, 'new', streamOf(randomBytes(limit + 1)), limit),
    ).rejects.toMatchObject({
      name: 'ProviderError',
      provider: 'storage',
      code: 'object_too_large',
    });
    // Over the limit on a replacement: the old object stays as it was.
    await expect(
      s.provider.putObject(ref, 'big', streamOf(randomBytes(limit + 1)), limit),
    ).rejects.toBeInstanceOf(ProviderError);
    expect(readdirSync(objectsDir(ref)).sort()).toEqual(before);
    expect((await readAll((await s.provider.getObject(ref, 'kept'))!.body)).equals(kept)).toBe(true);
    expect(await s.provider.getObject(ref, 'new')).toBeNull();
    const big = await s.provider.getObject(ref, 'big');
    expect(big!.size).toBe(1000);
    big!.body.destroy();
    // Exactly at the limit is fine.
    expect(await s.provider.putObject(ref, 'new', streamOf(randomBytes(limit)), limit)).toEqual({
      size: limit,
    });
  });

  it('caps a caller limit at maxObjectBytes, and admits only empty objects at a limit of 0 or less', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const max = 4 * 1024 * 1024;
    await expect(
      s.provider.putObject(ref, 'k', streamOf(randomBytes(max + 1), 65_536), max * 10),
    ).rejects.toMatchObject({
      code: 'object_too_large',
    });
    await expect(s.provider.putObject(ref, 'k', streamOf(Buffer.from('a')), 0)).rejects.toMatchObject({
      code: 'object_too_large',
    });
    expect(await s.provider.putObject(ref, 'k', streamOf(Buffer.alloc(0)), -5)).toEqual({ size: 0 });
    expect(readdirSync(objectsDir(ref))).toHaveLength(1);
  });

  it('stops reading an endless body at the limit', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 16_384;
        this.push(randomBytes(16_384));
      },
    });
    await expect(s.provider.putObject(ref, 'k', endless, 100_000)).rejects.toMatchObject({
      code: 'object_too_large',
    });
    expect(endless.destroyed).toBe(true);
    expect(produced).toBeLessThan(1_000_000);
    expect(readdirSync(objectsDir(ref))).toEqual([]);
  });

  it('leaves nothing when the body fails midway', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const body = new PassThrough();
    const put = s.provider.putObject(ref, 'k', body, 1e6);
    body.write(randomBytes(200_000));
    setTimeout(() => body.destroy(new Error('client went away')), 20);
    await expect(put).rejects.toThrow('client went away');
    expect(readdirSync(objectsDir(ref))).toEqual([]);
  });
});

describe('object keys', () => {
  const invalid: [string, string][] = [
    ['empty', ''],
    ['NUL', 'a\0b'],
    ['newline', 'a\nb'],
    ['tab', '\t'],
    ['DEL', 'a\u007f'],
    ['C1 control', 'a\u0085b'],
    ['1025 ASCII bytes', 'x'.repeat(1025)],
    ['1026 bytes of two-byte characters', 'é'.repeat(513)],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udc00'],
  ];

  it.each(invalid)('refuses a key with %s in every operation, touching no file', async (_name, key) => {
    const ref = newRef();
    await s.provider.create(ref);
    const before = pathsUnder(s.root);
    await expect(s.provider.putObject(ref, key, streamOf(Buffer.from('x')), 10)).rejects.toMatchObject({
      name: 'ProviderError',
      provider: 'storage',
      code: 'invalid_object_key',
    });
    await expect(s.provider.getObject(ref, key)).rejects.toMatchObject({ code: 'invalid_object_key' });
    await expect(s.provider.deleteObject(ref, key)).rejects.toMatchObject({ code: 'invalid_object_key' });
    expect(pathsUnder(s.root)).toEqual(before);
  });

  it('does not echo the key in the error message', async () => {
    const ref = newRef();
    await expect(s.provider.getObject(ref, 'secret-name\n')).rejects.toSatisfy(
      (error: unknown) =>
        error instanceof ProviderError &&
        error.provider === 'storage' &&
        !error.message.includes('secret-name'),
    );
  });

  it.each([
    ['1024 ASCII bytes', 'x'.repeat(1024)],
    ['1024 bytes of two-byte characters', 'é'.repeat(512)],
    ['path-like', '../../etc/passwd'],
    ['absolute', '/etc/passwd'],
    ['unicode and emoji', '日本語/🚀 report.pdf'],
    ['dots', '..'],
  ])('accepts a %s key and keeps it inside the resource', async (_name, key) => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, key, streamOf(Buffer.from('data')), 10);
    expect(await readAll((await s.provider.getObject(ref, key))!.body)).toEqual(Buffer.from('data'));
    expect(pathsUnder(s.root)).toEqual([
      backendName(ref),
      `${backendName(ref)}/objects`,
      expect.stringMatching(new RegExp(`^${backendName(ref)}/objects/[0-9a-f]{64}$`)),
    ]);
  });
});

describe('resources', () => {
  it('creates idempotently, with credentials that hold no secret', async () => {
    const ref = newRef();
    const expected = {
      kind: 'storage',
      objectsPath: `/v1/domains/${ref.domainId}/resources/${ref.resourceId}/objects/`,
    };
    expect(await s.provider.create(ref)).toEqual(expected);
    await s.provider.putObject(ref, 'k', streamOf(Buffer.from('kept')), 10);
    expect(await s.provider.create(ref)).toEqual(expected);
    expect(await readAll((await s.provider.getObject(ref, 'k'))!.body)).toEqual(Buffer.from('kept'));
    expect(await s.provider.credentials(ref)).toEqual(expected);
    expect(s.provider.kind).toBe('storage');
    expect(hasObjects(s.provider)).toBe(true);
  });

  it('deletes idempotently, including a resource that never existed', async () => {
    const ref = newRef();
    await s.provider.delete(ref);
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', streamOf(randomBytes(100)), 1000);
    await s.provider.delete(ref);
    await s.provider.delete(ref);
    expect(readdirSync(s.root)).toEqual([]);
    expect(await s.provider.inspect(ref)).toEqual({ exists: false, details: { name: backendName(ref) } });
  });

  it('answers for a resource that does not exist without creating it', async () => {
    const ref = newRef();
    await expect(s.provider.putObject(ref, 'k', streamOf(Buffer.from('x')), 10)).rejects.toMatchObject({
      code: 'not_found',
    });
    expect(await s.provider.getObject(ref, 'k')).toBeNull();
    expect(await s.provider.deleteObject(ref, 'k')).toBe(false);
    expect(await s.provider.usedBytes(ref)).toBe(0);
    expect(readdirSync(s.root)).toEqual([]);
  });

  it('inspects a resource and lists only directories named like ours', async () => {
    const a = newRef();
    const b = newRef();
    await s.provider.create(a);
    await s.provider.create(b);
    await s.provider.putObject(a, 'k', streamOf(randomBytes(10)), 100);
    mkdirSync(join(s.root, 'lost+found'));
    mkdirSync(join(s.root, 'bh_short_name'));
    writeFileSync(join(s.root, backendName(newRef())), 'a file, not a directory');
    expect(await s.provider.inspect(a)).toEqual({
      exists: true,
      details: { name: backendName(a), objects: 1, usedBytes: 10, otherFiles: 0 },
    });
    const owned = await s.provider.listOwned();
    expect(owned.sort((x, y) => x.name.localeCompare(y.name))).toEqual(
      [
        { ref: a, name: backendName(a) },
        { ref: b, name: backendName(b) },
      ].sort((x, y) => x.name.localeCompare(y.name)),
    );
  });

  it('keeps directories at 0700 and files at 0600', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    await s.provider.putObject(ref, 'k', streamOf(randomBytes(10)), 100);
    expect(mode(s.root)).toBe(0o700);
    expect(mode(join(s.root, backendName(ref)))).toBe(0o700);
    expect(mode(objectsDir(ref))).toBe(0o700);
    for (const name of readdirSync(objectsDir(ref))) expect(mode(join(objectsDir(ref), name))).toBe(0o600);
  });

  it('narrows a resource directory found wider than 0700 when creating again', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    chmodSync(join(s.root, backendName(ref)), 0o755);
    await s.provider.create(ref);
    expect(mode(join(s.root, backendName(ref)))).toBe(0o700);
  });

  it('leaves one whole object after concurrent writes of one key (the last rename wins)', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const versions = Array.from({ length: 8 }, (_, i) => randomBytes(150_000 + i * 7919));
    const results = await Promise.all(
      versions.map((v) => s.provider.putObject(ref, 'same', streamOf(v, 4096), 1e6)),
    );
    expect(results.map((r) => r.size)).toEqual(versions.map((v) => v.length));
    const found = await s.provider.getObject(ref, 'same');
    const data = await readAll(found!.body);
    expect(versions.some((v) => v.equals(data))).toBe(true);
    expect(found!.size).toBe(data.length);
    expect(readdirSync(objectsDir(ref))).toHaveLength(1);
  });

  it('ends consistent after concurrent writes and deletes of one key', async () => {
    const ref = newRef();
    await s.provider.create(ref);
    const data = randomBytes(100_000);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      ops.push(s.provider.putObject(ref, 'k', streamOf(data, 8192), 1e6));
      ops.push(s.provider.deleteObject(ref, 'k'));
    }
    await Promise.all(ops);
    const names = readdirSync(objectsDir(ref));
    expect(names.length).toBeLessThanOrEqual(1);
    const found = await s.provider.getObject(ref, 'k');
    if (found !== null) expect((await readAll(found.body)).equals(data)).toBe(true);
  });
});

describe('the storage root', () => {
  let parent: string;
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'bulkhead-root-'));
  });
  afterEach(() => rmSync(parent, { recursive: true, force: true }));
  const open = (root: string) => createStorageProvider({ root, dataKeys: new MemoryDataKeys() });

  it('is created with mode 0700 when missing', async () => {
    await open(join(parent, 'a', 'b'));
    expect(mode(join(parent, 'a', 'b'))).toBe(0o700);
  });

  it('is refused when open to group or others', async () => {
    const root = join(parent, 'wide');
    mkdirSync(root, { mode: 0o700 });
    chmodSync(root, 0o750);
    await expect(open(root)).rejects.toThrow(/open to group or others/);
    chmodSync(root, 0o701);
    await expect(open(root)).rejects.toThrow(/open to group or others/);
  });

  it('is refused when it is a symbolic link or a file', async () => {
    const real = join(parent, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(parent, 'link'));
    await expect(open(join(parent, 'link'))).rejects.toThrow(/symbolic link/);
    writeFileSync(join(parent, 'file'), '');
    await expect(open(join(parent, 'file'))).rejects.toThrow(/not a directory/);
  });

  it('checks its options when built', async () => {
    const dataKeys = new MemoryDataKeys();
    await expect(createStorageProvider({ root: '', dataKeys })).rejects.toBeInstanceOf(TypeError);
    await expect(
      createStorageProvider({ root: join(parent, 'x'), dataKeys, maxObjectBytes: 0 }),
    ).rejects.toBeInstanceOf(RangeError);
    await expect(
      createStorageProvider({ root: join(parent, 'x'), dataKeys, maxObjectBytes: 1.5 }),
    ).rejects.toBeInstanceOf(RangeError);
  });
});
