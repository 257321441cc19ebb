// Assembles the store, the server secret and the services from a Config. Only entry points (the CLI
// and the HTTP server's start) call this; everything below receives what it needs.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, decodeSecret, type Config } from './config.js';
import { KeyService } from './keys/service.js';
import { DomainService } from './services/domains.js';
import { OperatorService } from './services/operator.js';
import { openStore, type Store } from './store/store.js';

export interface Services {
  readonly store: Store;
  readonly domains: DomainService;
  readonly keys: KeyService;
  readonly operator: OperatorService;
}

/** The HMAC key for stored secrets: configured, or generated once into the embedded data directory. */
export function resolveSecret(config: Config): Buffer {
  if (config.secret !== undefined) return decodeSecret(config.secret);
  if (config.databaseUrl !== undefined) {
    throw new ConfigError(
      'invalid configuration: BULKHEAD_SECRET is required with BULKHEAD_DATABASE_URL (every server must share it)',
    );
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = join(config.dataDir, 'secret.key');
  try {
    return decodeSecret(readFileSync(file, 'utf8').trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return decodeSecret(secret);
}

export function buildServices(store: Store, secret: Buffer): Services {
  return {
    store,
    domains: new DomainService({ store }),
    keys: new KeyService({ store, secret }),
    operator: new OperatorService({ store, secret }),
  };
}

/** Opens the store named by the configuration and builds the services on it. */
export async function openServices(config: Config): Promise<Services> {
  const secret = resolveSecret(config);
  const store = await openStore(
    config.databaseUrl !== undefined
      ? { kind: 'postgres', url: config.databaseUrl }
      : { kind: 'pglite', dataDir: join(config.dataDir) },
  );
  return buildServices(store, secret);
}
