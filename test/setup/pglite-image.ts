// Runs once before any test, after the services check: makes one migrated embedded database and leaves its
// image in a file that the in-memory PGlite stores of every suite start from (test/helpers/backends.ts).
// Creating a PGlite database and migrating it costs about 4 s of CPU; loading the image, half a second,
// and the suites open a few hundred stores. Each store is still migrated (a no-op on the image) and given
// a scope key of its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedImage } from '../../src/store/store.js';

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-pglite-image-'));
  const path = join(dir, 'migrated.tar');
  writeFileSync(path, Buffer.from(await (await embeddedImage()).arrayBuffer()));
  process.env['BULKHEAD_TEST_PGLITE_IMAGE'] = path;
  return () => rmSync(dir, { recursive: true, force: true });
}
