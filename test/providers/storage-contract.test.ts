// The provider contract on the storage provider: a directory per resource under a fresh root on the
// real file system. A tenant uses its resource by writing and reading an object through the provider.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendName, hasObjects } from '../../src/providers/provider.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import { MemoryDataKeys, readAll, streamOf } from '../helpers/storage.js';
import { describeProviderContract } from './contract.js';

const parent = mkdtempSync(join(tmpdir(), 'bulkhead-storage-'));
const root = join(parent, 'root');

describeProviderContract({
  name: 'storage',
  kind: 'storage',
  open: () => createStorageProvider({ root, dataKeys: new MemoryDataKeys() }),
  async use(provider, ref) {
    if (!hasObjects(provider)) throw new Error('storage holds objects');
    const data = Buffer.from(`contract ${ref.resourceId}`);
    await provider.putObject(ref, 'contract', streamOf(data), 1024);
    const found = await provider.getObject(ref, 'contract');
    if (found === null || !(await readAll(found.body)).equals(data))
      throw new Error('the object did not return');
  },
  refusal: /does not exist/,
  async objects(ref) {
    const names = existsSync(root) ? await readdir(root) : [];
    return names.filter((name) => name === backendName(ref));
  },
  secrets: [],
  cleanup: () => Promise.resolve(rmSync(parent, { recursive: true, force: true })),
});
