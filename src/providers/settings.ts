// Which configuration variable points the server at each backend, for messages that tell an operator
// what to set. registry.ts reads these variables (through the configuration); this file only names them.
import type { ResourceKind } from '../domain/kinds.js';
import type { BackendIdentity } from './provider.js';

/** The variable that offers a kind at all. */
const kindSetting: Record<ResourceKind, string> = {
  postgres: 'BULKHEAD_POSTGRES_URL',
  redis: 'BULKHEAD_REDIS_URL',
  rabbitmq: 'BULKHEAD_RABBITMQ_URL',
  storage: 'BULKHEAD_STORAGE_DIR',
  kubernetes: 'BULKHEAD_KUBECONFIG',
};

/** The variable that configures a kind's backend. */
export function settingOfKind(kind: ResourceKind): string {
  return kindSetting[kind];
}

/**
 * How to start a server that reaches `backend`, as the end of a sentence: "… start a server <this>".
 *
 * @example
 * `start a server ${howToReach({ type: 'redis', location: 'cache:6379' })}`
 * // "start a server with BULKHEAD_REDIS_URL pointing at cache:6379"
 */
export function howToReach(backend: BackendIdentity): string {
  switch (backend.type) {
    case 'postgres-server': {
      const mode = /\((\w+) mode\)$/.exec(backend.location)?.[1] ?? 'database';
      const address = backend.location.replace(/(\/\w+)? \(\w+ mode\)$/, '');
      return `with BULKHEAD_POSTGRES_URL pointing at ${address} and BULKHEAD_POSTGRES_MODE=${mode}`;
    }
    case 'postgres-embedded':
      return `without BULKHEAD_POSTGRES_URL, with BULKHEAD_DATA_DIR holding ${backend.location}`;
    case 'redis':
      return `with BULKHEAD_REDIS_URL pointing at ${backend.location}`;
    case 'rabbitmq':
      return `with BULKHEAD_RABBITMQ_URL pointing at ${backend.location}`;
    case 'storage':
      return `with BULKHEAD_STORAGE_DIR=${backend.location}`;
    case 'storage-s3':
      return `with BULKHEAD_STORAGE=s3 and BULKHEAD_S3_ENDPOINT, BULKHEAD_S3_BUCKET, BULKHEAD_S3_PREFIX naming ${backend.location}`;
    case 'kubernetes':
      return `with BULKHEAD_KUBECONFIG naming a cluster at ${backend.location}`;
    default:
      return `configured for ${backend.type} ${backend.location}`;
  }
}

/** The variable to set for `backend`: the one `howToReach` starts from. */
export function settingOf(backend: BackendIdentity): string {
  switch (backend.type) {
    case 'postgres-server':
      return 'BULKHEAD_POSTGRES_URL';
    case 'postgres-embedded':
      return 'BULKHEAD_DATA_DIR';
    case 'redis':
      return 'BULKHEAD_REDIS_URL';
    case 'rabbitmq':
      return 'BULKHEAD_RABBITMQ_URL';
    case 'storage':
      return 'BULKHEAD_STORAGE_DIR';
    case 'storage-s3':
      return 'BULKHEAD_STORAGE';
    case 'kubernetes':
      return 'BULKHEAD_KUBECONFIG';
    default:
      return 'the configuration';
  }
}
