// The provider's options, checked once when the provider is built: a bad value stops the start with
// one clear line, and everything below this file may take the options as valid.
import { isAbsolute, resolve } from 'node:path';
import { hostPort, ProviderError, refFromBackendName } from '../provider.js';
import { normalizePostgresUrl, PostgresUrlError, postgresAddress } from '../../util/postgres-url.js';

export type PostgresProviderOptions =
  | {
      readonly kind: 'server';
      /**
       * A superuser's URL (`postgres://…`). Superuser, because giving a role NOSUPERUSER, NOREPLICATION
       * and NOBYPASSRLS explicitly and ending another role's sessions need it.
       */
      readonly adminUrl: string;
      /** `database`: a database per resource. `schema`: a schema per resource in one shared database. */
      readonly mode: 'database' | 'schema';
      /** The shared database of schema mode. Default `bulkhead_tenants`. */
      readonly sharedDatabase?: string | undefined;
      /** Connections each tenant role may hold at once. Default 20. */
      readonly connectionLimit?: number | undefined;
      /** The host credentials name, when tenants reach the server by another name. Default: adminUrl's. */
      readonly publicHost?: string | undefined;
      /** The port credentials name. Default: adminUrl's. */
      readonly publicPort?: number | undefined;
      /**
       * Hand out credentials even though the server lets a role log in without its password (development
       * only: any tenant can then log in as any other). Default false.
       */
      readonly allowPasswordlessLogin?: boolean | undefined;
    }
  | {
      readonly kind: 'embedded';
      /** Holds one PGlite data directory per resource, `<root>/<backendName>`; created 0700 when missing. */
      readonly root: string;
    };

export interface ServerSettings {
  readonly adminUrl: string;
  /** Where the admin URL reaches the server (host:port, or the socket directory and port); no secret. */
  readonly address: string;
  readonly mode: 'database' | 'schema';
  readonly sharedDatabase: string;
  readonly connectionLimit: number;
  readonly publicHost: string;
  readonly publicPort: number;
  readonly allowPasswordlessLogin: boolean;
}

const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function invalid(message: string): never {
  throw new ProviderError('postgres', 'invalid_options', message);
}

/**
 * Where a postgres:// URL reaches the server: its host (without IPv6 brackets; a socket directory decoded
 * from the host position, or taken from `?host=`, as libpq does; null when it names neither) and port.
 */
export function serverAddress(url: URL): { host: string | null; port: number } {
  return postgresAddress(url);
}

/** Checks server options and fills in the defaults. */
export function serverSettings(
  options: Extract<PostgresProviderOptions, { kind: 'server' }>,
): ServerSettings {
  let adminUrl: string;
  try {
    // Socket directories, in the query or percent-encoded, come out in the host position.
    adminUrl = normalizePostgresUrl(options.adminUrl);
  } catch (error) {
    if (!(error instanceof PostgresUrlError)) throw error;
    return invalid(`postgres adminUrl ${error.message}`);
  }
  const url = new URL(adminUrl);
  if (options.mode !== 'database' && options.mode !== 'schema')
    invalid('postgres mode must be database or schema');
  const sharedDatabase = options.sharedDatabase ?? 'bulkhead_tenants';
  // A shared database named like a resource would be listed, and removed, as an orphan.
  if (!DATABASE_NAME.test(sharedDatabase) || refFromBackendName(sharedDatabase) !== null) {
    invalid('postgres sharedDatabase must be a lowercase identifier that is not a Bulkhead backend name');
  }
  const connectionLimit = options.connectionLimit ?? 20;
  if (!Number.isInteger(connectionLimit) || connectionLimit < 1 || connectionLimit > 10_000) {
    invalid('postgres connectionLimit must be an integer from 1 to 10000');
  }
  const server = serverAddress(url);
  const host = options.publicHost ?? server.host;
  if (host === null || host === '') invalid('postgres publicHost is needed when adminUrl names no host');
  const port = options.publicPort ?? server.port;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) invalid('postgres publicPort must be a TCP port');
  return {
    adminUrl,
    address: hostPort(server.host ?? 'localhost', server.port),
    mode: options.mode,
    sharedDatabase,
    connectionLimit,
    publicHost: host,
    publicPort: port,
    allowPasswordlessLogin: options.allowPasswordlessLogin === true,
  };
}

/** Checks embedded options: the root, made absolute, so credentials name a path that means one thing. */
export function embeddedRoot(options: Extract<PostgresProviderOptions, { kind: 'embedded' }>): string {
  if (typeof options.root !== 'string' || options.root === '')
    invalid('postgres embedded root must be a path');
  return isAbsolute(options.root) ? resolve(options.root) : resolve(process.cwd(), options.root);
}
