// The provider contract on the S3 storage backend, against a real S3 server (s3rver, started here on a
// temporary directory) reached through the AWS SDK. The resource's objects are listed from the bucket
// directly, as the store's administrator sees them.
import { afterAll } from 'vitest';
import { hasObjects } from '../../src/providers/provider.js';
import { createS3StorageProvider } from '../../src/providers/storage/s3-objects.js';
import { startS3Server, type S3Server } from '../helpers/s3.js';
import { MemoryDataKeys, readAll, streamOf } from '../helpers/storage.js';
import { describeProviderContract } from './contract.js';

let server: S3Server | undefined;
const s3 = async (): Promise<S3Server> => (server ??= await startS3Server());
const dataKeys = new MemoryDataKeys();
afterAll(() => server?.stop());

describeProviderContract({
  name: 'storage (S3)',
  kind: 'storage',
  open: async () => createS3StorageProvider({ s3: (await s3()).location, dataKeys }),
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
    return (await (await s3()).keys(`bulkhead/${ref.domainId}/`)).filter((key) =>
      key.includes(ref.resourceId.slice(4)),
    );
  },
  secrets: [],
});
