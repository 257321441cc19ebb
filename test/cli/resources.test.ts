// `bulkhead resource …` with a domain's provisioning key, straight on the store and through a server,
// with the real PostgreSQL provider: what a tenant does first, and what it must not be able to do.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testPostgresUrl } from '../helpers/backends.js';
import { assertBuilt, killAll, runCli, startServer, tempDir, type CliResult } from '../helpers/processes.js';

const run = promisify(execFile);
const token = 'cli-resources-operator-token-0123456789ab';

function json<T>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe('bulkhead resource', () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let env: Record<string, string>;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-cli-res-');
    env = {
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_SECRET: 'b2'.repeat(32),
      BULKHEAD_POSTGRES_URL: testPostgresUrl,
      BULKHEAD_STORAGE_DIR: `${dir.path}/storage`,
      BULKHEAD_OPERATOR_TOKEN: token,
    };
    for (const slug of ['tenant-one', 'tenant-two']) {
      expect((await runCli(['domain', 'create', slug], { env })).code).toBe(0);
      keys[slug] = json<{ key: string }>(await runCli(['key', 'issue', slug, '--json'], { env })).key;
    }
  });

  afterAll(async () => {
    await killAll();
    for (const slug of ['tenant-one', 'tenant-two']) await runCli(['domain', 'delete', slug], { env });
    // A server start reconciles: the deleted domains' roles, databases and directories go.
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
    server.child.kill('SIGTERM');
    await server.exited;
    await database.drop();
    dir.remove();
  });

  const as = (slug: string) => ({ env: { ...env, BULKHEAD_KEY: keys[slug]! } });

  it('provisions a postgres database that psql can use with the printed credentials', async () => {
    const created = json<{ id: string; status: string; credentials: { url: string } }>(
      await runCli(
        ['resource', 'create', '--kind', 'postgres', '--name', 'orders', '--credentials', '--json'],
        as('tenant-one'),
      ),
    );
    expect(created.status).toBe('ready');
    const { stdout } = await run('psql', [
      created.credentials.url,
      '-v',
      'ON_ERROR_STOP=1',
      '-Atc',
      'CREATE TABLE t (x int); INSERT INTO t VALUES (42); SELECT x FROM t',
    ]);
    expect(stdout.trim().split('\n').at(-1)).toBe('42');

    const listed = json<{ id: string }[]>(await runCli(['resource', 'list', '--json'], as('tenant-one')));
    expect(listed.map((r) => r.id)).toEqual([created.id]);
    // The other tenant's key sees nothing of it, and cannot read or delete it.
    expect(json<unknown[]>(await runCli(['resource', 'list', '--json'], as('tenant-two')))).toEqual([]);
    for (const args of [
      ['show', created.id, '--credentials'],
      ['rotate', created.id],
      ['delete', created.id],
    ]) {
      const refused = await runCli(['resource', ...args], as('tenant-two'));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('not_found');
    }
    // Rotation prints new credentials once; they work, and the stored ones are now the same.
    const rotated = json<{ url: string }>(
      await runCli(['resource', 'rotate', created.id, '--json'], as('tenant-one')),
    );
    expect(new URL(rotated.url).password).not.toBe(new URL(created.credentials.url).password);
    const reread = json<{ credentials: { url: string } }>(
      await runCli(['resource', 'show', created.id, '--credentials', '--json'], as('tenant-one')),
    );
    expect(reread.credentials.url).toBe(rotated.url);
    expect((await run('psql', [rotated.url, '-Atc', 'SELECT x FROM t'])).stdout.trim()).toBe('42');
    const deleted = json<{ status: string }>(
      await runCli(['resource', 'delete', created.id, '--json'], as('tenant-one')),
    );
    expect(deleted.status).toBe('deleted');
    await expect(run('psql', [created.credentials.url, '-Atc', 'SELECT 1'])).rejects.toThrow();
  });

  it('provisions storage through a running server with --url', async () => {
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
    const viaUrl = { env: { ...as('tenant-two').env, BULKHEAD_URL: server.url } };
    const created = json<{ id: string; kind: string; status: string }>(
      await runCli(
        ['resource', 'create', '--kind', 'storage', '--name', 'files', '--idempotency-key', 'once', '--json'],
        viaUrl,
      ),
    );
    expect(created).toMatchObject({ kind: 'storage', status: 'ready' });
    const again = json<{ id: string }>(
      await runCli(
        ['resource', 'create', '--kind', 'storage', '--name', 'files', '--idempotency-key', 'once', '--json'],
        viaUrl,
      ),
    );
    expect(again.id).toBe(created.id);
    const shown = json<{ credentials: { objectsPath: string } }>(
      await runCli(['resource', 'show', created.id, '--credentials', '--json'], viaUrl),
    );
    expect(shown.credentials.objectsPath).toContain(created.id);
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('issues keys scoped to kind:action and holds them on every resource command', async () => {
    const created = json<{ id: string }>(
      await runCli(
        ['resource', 'create', '--kind', 'postgres', '--name', 'scoped', '--json'],
        as('tenant-one'),
      ),
    );
    const issued = json<{ key: string; scopes: string[] }>(
      await runCli(['key', 'issue', 'tenant-one', '--scopes', 'postgres:read,storage', '--json'], { env }),
    );
    expect(issued.scopes).toEqual(['storage', 'postgres:read']);
    const reader = { env: { ...env, BULKHEAD_KEY: issued.key } };
    expect(json<{ id: string }>(await runCli(['resource', 'show', created.id, '--json'], reader)).id).toBe(
      created.id,
    );
    for (const args of [
      ['show', created.id, '--credentials'],
      ['rotate', created.id],
      ['delete', created.id],
    ]) {
      const refused = await runCli(['resource', ...args], reader);
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toContain('scope_denied');
    }
    const storageOnly = json<{ key: string }>(
      await runCli(['key', 'issue', 'tenant-one', '--scopes', 'storage', '--json'], { env }),
    );
    const listed = json<{ id: string }[]>(
      await runCli(['resource', 'list', '--json'], { env: { ...env, BULKHEAD_KEY: storageOnly.key } }),
    );
    expect(listed.map((r) => r.id)).not.toContain(created.id);
    const bad = await runCli(['key', 'issue', 'tenant-one', '--scopes', 'postgres:objects'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown scope "postgres:objects"');
    expect(
      json<{ status: string }>(await runCli(['resource', 'delete', created.id, '--json'], as('tenant-one')))
        .status,
    ).toBe('deleted');
  });

  it('says what to set without a key, and refuses a bad one', async () => {
    const none = await runCli(['resource', 'list'], { env });
    expect(none.code).toBe(2); // configuration
    expect(none.stderr).toContain('BULKHEAD_KEY');
    const bad = await runCli(['resource', 'list'], { env: { ...env, BULKHEAD_KEY: 'bhk_nope' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid_credentials');
    const usage = await runCli(
      ['resource', 'create', '--kind', 'mainframe', '--name', 'x'],
      as('tenant-one'),
    );
    expect(usage.code).toBe(2);
  });
});
