// Chooses and builds the providers from the configuration: real backends where a URL is configured,
// embedded defaults (PGlite directories, local files) otherwise; RabbitMQ only when configured, as it
// has no embedded form. The only place that knows them all.
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { ResourceKind } from '../domain/kinds.js';
import { createPostgresProvider } from './postgres/index.js';
import type { DataKeySource, Provider } from './provider.js';
import { createRabbitmqProvider } from './rabbitmq/index.js';
import { createStorageProvider } from './storage/index.js';

export async function openProviders(
  config: Config,
  dataKeys: DataKeySource,
): Promise<Map<ResourceKind, Provider>> {
  const providers = new Map<ResourceKind, Provider>();
  providers.set(
    'postgres',
    await createPostgresProvider(
      config.postgresUrl !== undefined
        ? { kind: 'server', adminUrl: config.postgresUrl, mode: config.postgresMode }
        : { kind: 'embedded', root: join(config.dataDir, 'postgres') },
    ),
  );
  providers.set(
    'storage',
    await createStorageProvider({
      root: config.storageDir ?? join(config.dataDir, 'storage'),
      dataKeys,
      maxObjectBytes: config.maxObjectBytes,
    }),
  );
  if (config.rabbitmqUrl !== undefined) {
    providers.set(
      'rabbitmq',
      await createRabbitmqProvider({ managementUrl: config.rabbitmqUrl, amqpUrl: config.rabbitmqAmqpUrl }),
    );
  }
  return providers;
}
