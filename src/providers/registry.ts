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
import { createS3StorageProvider, createStorageProvider, type S3Location } from './storage/index.js';
import { S3VolumeDisks } from './storage/s3-volumes.js';

/**
 * Builds the configured providers. With `onUnavailable`, a provider its configuration cannot build (a
 * kubeconfig that cannot be read, options the provider refuses) is reported there and left out, so the
 * server starts without that kind; without it, the first such error is thrown.
 */
export async function openProviders(
  config: Config,
  dataKeys: DataKeySource,
  onUnavailable?: (kind: ResourceKind, error: unknown) => void,
): Promise<Map<ResourceKind, Provider>> {
  const providers = new Map<ResourceKind, Provider>();
  const add = async (kind: ResourceKind, create: () => Promise<Provider>): Promise<void> => {
    try {
      providers.set(kind, await create());
    } catch (error) {
      if (onUnavailable === undefined) throw error;
      onUnavailable(kind, error);
    }
  };
  await add('postgres', () =>
    createPostgresProvider(
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
  const s3 = s3LocationOf(config);
  await add('storage', () =>
    s3 !== null
      ? createS3StorageProvider({ s3, dataKeys, maxObjectBytes: config.maxObjectBytes })
      : createStorageProvider({
          root: config.storageDir ?? join(config.dataDir, 'storage'),
          dataKeys,
          maxObjectBytes: config.maxObjectBytes,
        }),
  );
  // Only with a server: there is no embedded Redis. The same URL also carries the revocation feed.
  const { redisUrl, kubeconfig, rabbitmqUrl } = config;
  if (redisUrl !== undefined) {
    await add('redis', () =>
      createRedisProvider({ adminUrl: redisUrl, allowOpenDefaultUser: config.redisAllowOpenDefaultUser }),
    );
  }
  if (kubeconfig !== undefined) {
    await add('kubernetes', () =>
      createKubernetesProvider({ target: { kind: 'kubeconfig', path: kubeconfig } }),
    );
  }
  if (rabbitmqUrl !== undefined) {
    await add('rabbitmq', () =>
      createRabbitmqProvider({ managementUrl: rabbitmqUrl, amqpUrl: config.rabbitmqAmqpUrl }),
    );
  }
  return providers;
}

/** The S3 store of storage areas and volumes with `BULKHEAD_STORAGE=s3`; null with the local directory. */
export function s3LocationOf(config: Config): S3Location | null {
  const { s3Bucket, s3AccessKeyId, s3SecretAccessKey } = config;
  if (
    config.storage !== 's3' ||
    s3Bucket === undefined ||
    s3AccessKeyId === undefined ||
    s3SecretAccessKey === undefined
  )
    return null;
  return {
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    bucket: s3Bucket,
    prefix: config.s3Prefix,
    accessKeyId: s3AccessKeyId,
    secretAccessKey: s3SecretAccessKey,
  };
}

/** The volumes' store on S3 with `BULKHEAD_STORAGE=s3`; undefined keeps them in the volume directory. */
export function volumeDisksOf(config: Config, dataKeys: DataKeySource): S3VolumeDisks | undefined {
  const s3 = s3LocationOf(config);
  return s3 === null ? undefined : new S3VolumeDisks(s3, dataKeys);
}
