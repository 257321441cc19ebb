// `bulkhead resource …` across a restart with another configuration: a PostgreSQL resource created with
// BULKHEAD_POSTGRES_URL, then deleted or rotated by the CLI (on the store, and through a server) without
// it. Both refuse with exit 1 and a message naming the backend and the variable; the database stays and
// so does the resource; with the variable back, the delete goes through.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresUrl } from '../helpers/backends.js';
import { assertBuilt, killAll, runCli, startServer, tempDir, type CliResult } from '../helpers/processes.js';

const run = promisify(execFile);
const token = 'cli-backends-operator-token-0123456789ab';

function json<T>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('bulkhead resource on a backend the configuration no longer names', () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let withServer: Record<string, string>;
  let embedded: Record<string, string>;
  const slug = `backends-${process.pid}`;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-cli-backends-');
    embedded = {
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_DATA_DIR: `${dir.path}/data`,
      BULKHEAD_SECRET: 'c3'.repeat(32),
      BULKHEAD_OPERATOR_TOKEN: token,
    };
    withServer = { ...embedded, BULKHEAD_POSTGRES_URL: testPostgresUrl };
    expect((await runCli(['domain', 'create', slug], { env: withServer })).code).toBe(0);
    const key = json<{ key: string }>(
      await runCli(['key', 'issue', slug, '--json'], { env: withServer }),
    ).key;
    withServer['BULKHEAD_KEY'] = key;
    embedded['BULKHEAD_KEY'] = key;
  });

  afterAll(async () => {
    await killAll();
    await runCli(['domain', 'delete', slug], { env: withServer });
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env: withServer });
    server.child.kill('SIGTERM');
    await server.exited;
    await database.drop();
    dir.remove();
  });

  const psql = (url: string) => run('psql', [url, '-v', 'ON_ERROR_STOP=1', '-Atc', 'SELECT 1']);

  function expectRefused(result: CliResult, verb: string) {
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('bulkhead: backend_not_configured: res_');
    expect(result.stderr).toContain('lives on postgres-server 127.0.0.1:5432 (database mode)');
    expect(result.stderr).toContain('BULKHEAD_POSTGRES_URL');
    expect(result.stderr).toContain(`to ${verb} it`);
    expect(result.stdout).toBe('');
  }

  it('refuses to delete or rotate it without BULKHEAD_POSTGRES_URL, and deletes it with it', async () => {
    const created = json<{ id: string; status: string; credentials: { url: string } }>(
      await runCli(
        ['resource', 'create', '--kind', 'postgres', '--name', 'orders', '--credentials', '--json'],
        { env: withServer },
      ),
    );
    expect(created.status).toBe('ready');

    // Straight on the store, as `npm start` without the variable would see it.
    expectRefused(await runCli(['resource', 'delete', created.id], { env: embedded }), 'delete');
    expectRefused(
      await runCli(['resource', 'rotate', created.id], { env: embedded }),
      'rotate the credentials of',
    );

    // Through a server started without it.
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env: embedded });
    try {
      const viaUrl = { env: { ...embedded, BULKHEAD_URL: server.url } };
      expectRefused(await runCli(['resource', 'delete', created.id], viaUrl), 'delete');
      expectRefused(
        await runCli(['resource', 'show', created.id, '--credentials'], viaUrl),
        'read the credentials of',
      );
      const shown = json<{ status: string }>(
        await runCli(['resource', 'show', created.id, '--json'], viaUrl),
      );
      expect(shown.status).toBe('ready');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    // The database is still there, with the credentials it was given.
    expect((await psql(created.credentials.url)).stdout.trim()).toBe('1');
    const audit = json<{ action: string; outcome: string; target: string }[]>(
      await runCli(['audit', 'list', '--domain', slug, '--json'], { env: withServer }),
    );
    expect(
      audit.filter((e) => e.target === created.id && e.outcome === 'refused').map((e) => e.action),
    ).toHaveLength(4);

    const deleted = json<{ status: string }>(
      await runCli(['resource', 'delete', created.id, '--json'], { env: withServer }),
    );
    expect(deleted.status).toBe('deleted');
    await expect(psql(created.credentials.url)).rejects.toThrow();
  });
});
