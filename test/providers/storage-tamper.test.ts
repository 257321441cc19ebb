// Stored files that were changed, cut, reordered or moved: a reader gets `corrupt` and never a byte of
// plaintext that did not authenticate. Chunks before the damage may arrive (they are authentic); the
// damaged chunk and everything after it never do.
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backendName, type ResourceRef } from '../../src/providers/provider.js';
import { CHUNK_SIZE, HEADER_BYTES, TAG_BYTES } from '../../src/providers/storage/storage-crypto.js';
import { ProviderError } from '../../src/providers/provider.js';
import { newRef, openStorage, streamOf, type StorageFixture } from '../helpers/storage.js';

let s: StorageFixture;
beforeEach(async () => {
  s = await openStorage();
});
afterEach(() => s.remove());

const objectsDir = (ref: ResourceRef) => join(s.root, backendName(ref), 'objects');

/** Stores `data` as the only object of a fresh resource and returns the path of its file. */
async function stored(
  data: Buffer,
  ref: ResourceRef = newRef(),
  key = 'obj',
): Promise<{ ref: ResourceRef; file: string }> {
  await s.provider.create(ref);
  const before = new Set(readdirSync(objectsDir(ref)));
  await s.provider.putObject(ref, key, streamOf(data), 1e8);
  const name = readdirSync(objectsDir(ref)).find((n) => !before.has(n))!;
  return { ref, file: join(objectsDir(ref), name) };
}

/** Reads a body to its end or error; returns what it released and how it ended. */
async function drain(body: Readable): Promise<{ released: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const part of body as AsyncIterable<Buffer>) parts.push(part);
    return { released: Buffer.concat(parts), error: null };
  } catch (error) {
    return { released: Buffer.concat(parts), error };
  }
}

function edit(file: string, change: (bytes: Buffer) => Buffer | void): void {
  const bytes = readFileSync(file);
  writeFileSync(file, change(bytes) ?? bytes);
}

// Where the header keeps the plaintext size (after the magic, version and chunk size).
const SIZE_OFFSET = 9;
const chunkStart = (index: number) => HEADER_BYTES + index * (CHUNK_SIZE + TAG_BYTES);

describe('tampering', () => {
  it('a flipped byte in the middle of the file ends the stream with corrupt before that chunk', async () => {
    const data = randomBytes(5 * CHUNK_SIZE + 100);
    const { ref, file } = await stored(data);
    edit(file, (bytes) => {
      bytes[chunkStart(3) + 1234]! ^= 0x01;
    });
    const found = await s.provider.getObject(ref, 'obj');
    expect(found!.size).toBe(data.length);
    const { released, error } = await drain(found!.body);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ provider: 'storage', code: 'corrupt' });
    // Only the three chunks before the damage, exactly as written; nothing of chunk 3 or later.
    expect(released.length).toBeLessThanOrEqual(3 * CHUNK_SIZE);
    expect(released.equals(data.subarray(0, released.length))).toBe(true);
    expect(released.includes(data.subarray(3 * CHUNK_SIZE + 1000, 3 * CHUNK_SIZE + 1064))).toBe(false);
  });

  it('a flipped tag byte of the last chunk ends the stream with corrupt', async () => {
    const { ref, file } = await stored(randomBytes(100));
    edit(file, (bytes) => {
      bytes[bytes.length - 1]! ^= 0x80;
    });
    const { released, error } = await drain((await s.provider.getObject(ref, 'obj'))!.body);
    expect(error).toMatchObject({ code: 'corrupt' });
    expect(released.length).toBe(0);
  });

  it('a flipped tag of an empty object ends its stream with corrupt', async () => {
    const { ref, file } = await stored(Buffer.alloc(0));
    edit(file, (bytes) => {
      bytes[HEADER_BYTES]! ^= 0x01;
    });
    expect((await drain((await s.provider.getObject(ref, 'obj'))!.body)).error).toMatchObject({
      code: 'corrupt',
    });
  });

  it.each([
    ['the magic', 0],
    ['the chunk size', 6],
    ['the size', 16],
    ['the nonce prefix', 20],
    ['the wrap nonce', 30],
    ['the wrapped key', 50],
    ['the wrap tag', HEADER_BYTES - 1],
  ])('a changed byte in %s of the header is refused before any body', async (_name, offset) => {
    const { ref, file } = await stored(randomBytes(CHUNK_SIZE * 2));
    edit(file, (bytes) => {
      bytes[offset]! ^= 0x01;
    });
    // Every header field is authenticated with the wrapped key, so getObject refuses before any body.
    await expect(s.provider.getObject(ref, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });

  it.each([
    ['one byte', 1],
    ['one tag', TAG_BYTES],
    ['the last chunk', 100 + TAG_BYTES],
  ])('a file cut short by %s is refused', async (_name, cut) => {
    const { ref, file } = await stored(randomBytes(2 * CHUNK_SIZE + 100));
    const length = readFileSync(file).length;
    truncateSync(file, length - cut);
    await expect(s.provider.getObject(ref, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('a file cut to a whole number of chunks with its size field lowered to match is refused', async () => {
    const data = randomBytes(3 * CHUNK_SIZE);
    const { ref, file } = await stored(data);
    // Drop the last chunk and claim two chunks' worth: the lengths agree, but the size is authenticated
    // and chunk 1 was not sealed as the last one.
    edit(file, (bytes) => {
      const cut = Buffer.from(bytes.subarray(0, chunkStart(2)));
      cut.writeBigUInt64BE(BigInt(2 * CHUNK_SIZE), SIZE_OFFSET);
      return cut;
    });
    await expect(s.provider.getObject(ref, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('swapped chunks are detected at the first one out of place', async () => {
    const data = randomBytes(4 * CHUNK_SIZE + 1);
    const { ref, file } = await stored(data);
    edit(file, (bytes) => {
      const one = Buffer.from(bytes.subarray(chunkStart(1), chunkStart(2)));
      bytes.copy(bytes, chunkStart(1), chunkStart(2), chunkStart(3));
      one.copy(bytes, chunkStart(2));
    });
    const { released, error } = await drain((await s.provider.getObject(ref, 'obj'))!.body);
    expect(error).toMatchObject({ code: 'corrupt' });
    expect(released.length).toBeLessThanOrEqual(CHUNK_SIZE);
    expect(released.equals(data.subarray(0, released.length))).toBe(true);
  });
});

describe('files moved between places', () => {
  it("B's object file copied into A's directory over an existing object does not open in A", async () => {
    const a = await stored(Buffer.from('A data'));
    const b = await stored(Buffer.from('B secret data'));
    copyFileSync(b.file, a.file);
    await expect(s.provider.getObject(a.ref, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('a file copied between two resources of the same domain does not open (same data key)', async () => {
    const a = await stored(Buffer.from('first'));
    const b = await stored(Buffer.from('second'), newRef(a.ref.domainId));
    copyFileSync(b.file, a.file);
    await expect(s.provider.getObject(a.ref, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });

  it("a file renamed to another key's name in the same resource does not open", async () => {
    const ref = newRef();
    const first = await stored(Buffer.from('first'), ref, 'first');
    const second = await stored(Buffer.from('second'), ref, 'second');
    renameSync(second.file, first.file);
    await expect(s.provider.getObject(ref, 'first')).rejects.toMatchObject({ code: 'corrupt' });
    expect(await s.provider.getObject(ref, 'second')).toBeNull();
  });

  it('a whole resource directory renamed to another resource does not open there', async () => {
    const a = await stored(Buffer.from('A data'));
    const moved = newRef(a.ref.domainId);
    renameSync(join(s.root, backendName(a.ref)), join(s.root, backendName(moved)));
    // The file names are keyed by the domain, so the same key finds the file; its place binding refuses it.
    await expect(s.provider.getObject(moved, 'obj')).rejects.toMatchObject({ code: 'corrupt' });
  });
});
