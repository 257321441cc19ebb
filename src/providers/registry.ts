// Chooses and builds the providers from the configuration: real backends where a URL is configured,
// embedded defaults (PGlite directories, local files) otherwise. The only place that knows them all.
// Redis, RabbitMQ and Kubernetes have no embedded form: without their configuration the kind is not offered.
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { ResourceKind } from '../domain/kinds.js';
import { createKubernetesProvider } from './kubernetes/index.js';
import { createPostgresProvider } from './postgres/index.js';
import type { DataKeySource, Provider } from './provider.js';
import { createRedisProvider } from './redis/index.js';
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
        ? {
            kind: 'server',
            adminUrl: config.postgresUrl,
            mode: config.postgresMode,
            allowPasswordlessLogin: config.postgresAllowPasswordlessLogin,
          }
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
  // Only with a server: there is no embedded Redis. The same URL also carries the revocation feed.
  if (config.redisUrl !== undefined) {
    providers.set(
      'redis',
      await createRedisProvider({
        adminUrl: config.redisUrl,
        allowOpenDefaultUser: config.redisAllowOpenDefaultUser,
      }),
    );
  }
  if (config.kubeconfig !== undefined) {
    providers.set(
      'kubernetes',
      await createKubernetesProvider({ target: { kind: 'kubeconfig', path: config.kubeconfig } }),
    );
  }
  if (config.rabbitmqUrl !== undefined) {
    providers.set(
      'rabbitmq',
      await createRabbitmqProvider({ managementUrl: config.rabbitmqUrl, amqpUrl: config.rabbitmqAmqpUrl }),
    );
  }
  return providers;
}
