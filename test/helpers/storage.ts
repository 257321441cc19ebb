// Real pieces for the storage provider suites: an in-memory DataKeySource with a distinct random key per
// domain, a fresh storage root in a temporary directory, and ways to feed and drain streams and to read
// every byte under a directory. No mocks: the provider under test runs on the real file system.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newId } from '../../src/domain/ids.js';
import type { DataKeySource, ObjectProvider, ResourceRef } from '../../src/providers/provider.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';

/** Each domain gets its own random 32-byte key on first use, as the keyring does. */
export class MemoryDataKeys implements DataKeySource {
  private readonly keys = new Map<string, Buffer>();

  dataKey(domainId: string): Promise<Buffer> {
    let key = this.keys.get(domainId);
    if (key === undefined) {
      key = randomBytes(32);
      this.keys.set(domainId, key);
    }
    // A copy, as the keyring hands out: the provider must not depend on holding the original.
    return Promise.resolve(Buffer.from(key));
  }
}

export interface StorageFixture {
  readonly provider: ObjectProvider;
  readonly root: string;
  readonly dataKeys: MemoryDataKeys;
  remove(): void;
}

export async function openStorage(options: { maxObjectBytes?: number } = {}): Promise<StorageFixture> {
  const parent = mkdtempSync(join(tmpdir(), 'bulkhead-storage-'));
  const root = join(parent, 'root');
  const dataKeys = new MemoryDataKeys();
  const provider = await createStorageProvider({ root, dataKeys, ...options });
  return { provider, root, dataKeys, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

export function newRef(domainId: string = newId('domain')): ResourceRef {
  return { domainId, resourceId: newId('resource') };
}

/** A stream of `data` in pieces of `piece` bytes (uneven against the chunk size on purpose). */
export function streamOf(data: Buffer, piece = 10_007): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += piece)
    pieces.push(data.subarray(offset, offset + piece));
  return Readable.from(pieces, { objectMode: false });
}

export async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

/** Every regular file below `dir`, with its bytes. */
export function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

/** Every path below `dir` (files and directories), relative to it. */
export function pathsUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? [rel, ...pathsUnder(join(dir, entry.name), rel)] : [rel];
  });
}
