// The PostgreSQL provider's public surface: the factory, its options and its errors. How roles,
// databases, schemas and PGlite directories are laid out stays internal to this folder.
import type { Provider } from '../provider.js';
import { embeddedRoot, serverSettings, type PostgresProviderOptions } from './postgres-options.js';
import { PgliteProvider } from './pglite-provider.js';
import { PostgresServerProvider } from './postgres-provider.js';

export type { PostgresProviderOptions } from './postgres-options.js';

/**
 * Builds the `postgres` provider: roles with their own database or schema on a PostgreSQL server, or a
 * PGlite data directory per resource when no server is configured. Options are checked here; a server
 * is first contacted by the first call that needs it.
 *
 * @example
 * const provider = await createPostgresProvider({ kind: 'server', adminUrl: 'postgres://postgres@db/postgres', mode: 'database' });
 * const credentials = await provider.create({ domainId, resourceId }); // { host, port, database, user, password, url }
 */
export async function createPostgresProvider(options: PostgresProviderOptions): Promise<Provider> {
  if (options.kind === 'server') return new PostgresServerProvider(serverSettings(options));
  return PgliteProvider.open(embeddedRoot(options));
}
