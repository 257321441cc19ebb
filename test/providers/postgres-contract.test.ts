// The provider contract on the test PostgreSQL server, in both modes: a database per resource, and a
// schema per resource in one shared database. The server's own catalogs say what exists.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import { backendName, type Credentials, type ResourceRef } from '../../src/providers/provider.js';
import { testPostgresUrl } from '../helpers/backends.js';
import { adminQuery, dropEverything, openPsqlSession, psql, targetOf } from '../helpers/postgres-tenant.js';
import { describeProviderContract } from './contract.js';

for (const mode of ['database', 'schema'] as const) {
  const sharedDatabase = `bulkhead_test_shared_${randomBytes(6).toString('hex')}`;
  describeProviderContract({
    name: `postgres (${mode} mode)`,
    kind: 'postgres',
    open: () => createPostgresProvider({ kind: 'server', adminUrl: testPostgresUrl, mode, sharedDatabase }),
    async use(_provider, ref, credentials) {
      // Logged in as the resource's role, in its database or with its schema.
      const answer = await psql(
        targetOf(credentials),
        "SELECT current_user || ' ' || current_database() || ' ' || " +
          '(SELECT count(*) FROM pg_namespace WHERE nspname = current_user)',
      );
      if (answer.code !== 0) throw new Error(answer.stderr);
      const name = backendName(ref);
      const expected = mode === 'database' ? `${name} ${name} 0` : `${name} ${sharedDatabase} 1`;
      if (answer.stdout !== expected) throw new Error(`logged in as ${answer.stdout}, not ${expected}`);
    },
    refusal: /password authentication failed/,
    async objects(ref: ResourceRef) {
      const name = backendName(ref);
      const roles = await adminQuery('SELECT FROM pg_roles WHERE rolname = $1', [name]);
      const databases = await adminQuery('SELECT FROM pg_database WHERE datname = $1', [name]);
      const shared = await adminQuery('SELECT FROM pg_database WHERE datname = $1', [sharedDatabase]);
      const schemas =
        shared.length === 0
          ? []
          : await adminQuery('SELECT FROM pg_namespace WHERE nspname = $1', [name], sharedDatabase);
      return [
        ...roles.map(() => `role ${name}`),
        ...databases.map(() => `database ${name}`),
        ...schemas.map(() => `schema ${name}`),
      ];
    },
    secrets: ['password', 'url'],
    async session(credentials: Credentials) {
      const client = new pg.Client({ connectionString: String(credentials['url']) });
      client.on('error', () => undefined);
      await client.connect();
      const psqlSession = await openPsqlSession(targetOf(credentials));
      return {
        async works() {
          const viaPg = await client.query('SELECT 1').then(
            () => true,
            () => false,
          );
          const viaPsql = (await psqlSession.run('SELECT 1;')) === '1';
          if (!viaPsql) expect(await psqlSession.exited).not.toBe(0);
          return viaPg && viaPsql;
        },
        async close() {
          psqlSession.close();
          await client.end().catch(() => undefined);
        },
      };
    },
    cleanup: (refs) => dropEverything(refs.map(backendName), mode === 'schema' ? sharedDatabase : undefined),
  });
}
