// Real providers for the provisioning suites: PostgreSQL on the test server (roles and databases are
// created for real and removed by the suite) and storage in a fresh temporary directory.
import type { ResourceKind } from '../../src/domain/kinds.js';
import type { DataKeySource, Provider } from '../../src/providers/provider.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import { tempDir } from './processes.js';
import { testPostgresUrl } from './backends.js';

export interface TestProviders {
  readonly providers: Map<ResourceKind, Provider>;
  /** Late-bound: set once the services (and so the keyring) exist. */
  bind(keyring: Keyring): void;
  readonly storageRoot: string;
  remove(): void;
}

export async function openTestProviders(mode: 'database' | 'schema' = 'database'): Promise<TestProviders> {
  let keyring: Keyring | undefined;
  const dataKeys: DataKeySource = {
    dataKey: (domainId) => {
      if (keyring === undefined) throw new Error('keyring not bound');
      return keyring.dataKey(domainId);
    },
  };
  const dir = tempDir('bulkhead-storage-');
  const providers = new Map<ResourceKind, Provider>();
  providers.set(
    'postgres',
    await createPostgresProvider({ kind: 'server', adminUrl: testPostgresUrl, mode }),
  );
  providers.set(
    'storage',
    await createStorageProvider({ root: `${dir.path}/root`, dataKeys, maxObjectBytes: 4 * 1024 * 1024 }),
  );
  return {
    providers,
    bind(k) {
      keyring = k;
    },
    storageRoot: `${dir.path}/root`,
    remove: () => dir.remove(),
  };
}
