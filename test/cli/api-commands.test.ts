// The CLI's commands for the rest of the API (instances, volumes, objects, grants, principals, sessions,
// pools, blueprints) as a user runs them: the built binary against a real server on a PostgreSQL store,
// and straight on the store where the command can. Another domain's key gets exactly what a made-up id
// gets (exit 1, not_found), and changes nothing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/backends.js';
import {
  assertBuilt,
  binPath,
  childEnv,
  killAll,
  runCli,
  startServer,
  tempDir,
  type CliResult,
  type Server,
} from '../helpers/processes.js';

const token = 'cli-api-operator-token-0123456789abcdefgh';

function expectExit(result: CliResult, code: number): void {
  expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toMatchObject({ code });
}

function json<T>(result: CliResult): T {
  expectExit(result, 0);
  return JSON.parse(result.stdout) as T;
}

/** Runs the CLI with bytes on standard input and returns standard output as bytes. */
function runBinary(
  args: readonly string[],
  env: Record<string, string>,
  input: Buffer = Buffer.alloc(0),
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { env: childEnv(env) });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

interface Instance {
  id: string;
  name: string;
  status: string;
}
interface Volume {
  id: string;
  status: string;
  instanceId: string | null;
  sizeBytes: number;
}

// Each command is a fresh Node process (a few seconds on a busy machine), and a test runs a dozen of them.
describe(
  'bulkhead instance, volume, object, grant, principal, session, pool, blueprint',
  { timeout: 240_000 },
  () => {
    let database: { url: string; drop(): Promise<void> };
    let dir: { path: string; remove(): void };
    let env: Record<string, string>;
    let server: Server;
    const keys: Record<string, string> = {};
    const domainIds: Record<string, string> = {};
    const slugs = ['cli-api-alpha', 'cli-api-beta'] as const;

    beforeAll(async () => {
      assertBuilt();
      database = await createTestDatabase();
      dir = tempDir('bulkhead-cli-api-');
      env = {
        BULKHEAD_DATABASE_URL: database.url,
        BULKHEAD_SECRET: 'c3'.repeat(32),
        BULKHEAD_STORAGE_DIR: join(dir.path, 'storage'),
        BULKHEAD_VOLUME_DIR: join(dir.path, 'volumes'),
        BULKHEAD_OPERATOR_TOKEN: token,
      };
      for (const slug of slugs) {
        domainIds[slug] = json<{ id: string }>(
          await runCli(['domain', 'create', slug, '--json'], { env }),
        ).id;
        keys[slug] = json<{ key: string }>(await runCli(['key', 'issue', slug, '--json'], { env })).key;
      }
      server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
    }, 120_000);

    afterAll(async () => {
      await killAll();
      await database.drop();
      dir.remove();
    });

    /** As a domain's key, through the server. */
    const as = (slug: (typeof slugs)[number]) => ({
      env: { ...env, BULKHEAD_KEY: keys[slug]!, BULKHEAD_URL: server.url },
    });
    /** As the operator, through the server. */
    const operator = () => ({ env: { ...env, BULKHEAD_URL: server.url } });
    const alpha = (...args: string[]) => runCli(args, as('cli-api-alpha'));
    const beta = (...args: string[]) => runCli(args, as('cli-api-beta'));

    let instance: Instance;
    let volume: Volume;
    let storage: string;

    it('creates an instance and a volume, printing the ids the next command needs', async () => {
      const created = await alpha('instance', 'create', 'web');
      expectExit(created, 0);
      const id = /\b(ins_[0-9a-z]{26})\b/.exec(created.stdout)?.[1];
      expect(id).toBeDefined();
      instance = json<Instance>(await alpha('instance', 'show', id!, '--json'));
      expect(instance).toMatchObject({ id, name: 'web', status: 'running' });

      volume = json<Volume>(await alpha('volume', 'create', 'data', '--size', '1MiB', '--json'));
      expect(volume).toMatchObject({ status: 'available', sizeBytes: 1024 * 1024, instanceId: null });
      const attached = await alpha('volume', 'attach', volume.id, '--instance', instance.id);
      expectExit(attached, 0);
      expect(attached.stdout).toContain(volume.id);
      expect(attached.stdout).toContain(instance.id);
      volume = json<Volume>(await alpha('volume', 'show', volume.id, '--json'));
      expect(volume).toMatchObject({ status: 'attached', instanceId: instance.id });
      expect(json<Volume[]>(await alpha('volume', 'list', '--json')).map((v) => v.id)).toEqual([volume.id]);
    });

    it('reads the same instances straight on the store, with no server in between', async () => {
      const direct = { env: { ...env, BULKHEAD_KEY: keys['cli-api-alpha']! } };
      const listed = json<Instance[]>(await runCli(['instance', 'list', '--json'], direct));
      expect(listed.map((i) => i.id)).toEqual([instance.id]);
    });

    it('stores and reads objects byte for byte, from standard input and files, to standard output and files', async () => {
      storage = json<{ id: string }>(
        await alpha('resource', 'create', '--kind', 'storage', '--name', 'files', '--json'),
      ).id;
      // Every byte value, a stray UTF-8 lead byte and random data: nothing may be decoded as text.
      const bytes = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        Buffer.from([0xc3]),
        randomBytes(200_000),
      ]);
      const put = await runBinary(
        ['object', 'put', storage, 'in/stdin.bin', '--json'],
        as('cli-api-alpha').env,
        bytes,
      );
      expect(put.code, put.stderr).toBe(0);
      expect(JSON.parse(put.stdout.toString())).toEqual({ key: 'in/stdin.bin', size: bytes.length });
      const got = await runBinary(['object', 'get', storage, 'in/stdin.bin'], as('cli-api-alpha').env);
      expect(got.code, got.stderr).toBe(0);
      expect(got.stdout.equals(bytes)).toBe(true);

      const file = join(dir.path, 'upload.bin');
      writeFileSync(file, bytes.subarray(0, 1000));
      expectExit(await alpha('object', 'put', storage, 'from-file', file), 0);
      const target = join(dir.path, 'download.bin');
      const written = await alpha('object', 'get', storage, 'from-file', target);
      expectExit(written, 0);
      expect(readFileSync(target).equals(bytes.subarray(0, 1000))).toBe(true);

      expectExit(await alpha('object', 'delete', storage, 'from-file'), 0);
      const gone = await alpha('object', 'get', storage, 'from-file');
      expectExit(gone, 1);
      expect(gone.stderr).toContain('not_found');
    });

    it("refuses another domain's instance, volume and objects as not found, and changes nothing", async () => {
      const before = {
        instance: await alpha('instance', 'show', instance.id, '--json'),
        volume: await alpha('volume', 'show', volume.id, '--json'),
      };
      const attempts = [
        ['instance', 'show', instance.id],
        ['instance', 'delete', instance.id],
        ['volume', 'show', volume.id],
        ['volume', 'detach', volume.id],
        ['volume', 'delete', volume.id],
        ['object', 'get', storage, 'in/stdin.bin'],
        ['object', 'delete', storage, 'in/stdin.bin'],
      ];
      for (const args of attempts) {
        const refused = await beta(...args);
        expectExit(refused, 1);
        expect(refused.stderr, args.join(' ')).toMatch(/^bulkhead: not_found: /);
      }
      const overwrite = await runBinary(
        ['object', 'put', storage, 'in/stdin.bin'],
        as('cli-api-beta').env,
        Buffer.from('x'),
      );
      expect(overwrite.code).toBe(1);
      expect(overwrite.stderr).toMatch(/^bulkhead: not_found: /);
      // beta's own volume cannot be attached to alpha's instance either.
      const own = json<Volume>(await beta('volume', 'create', 'mine', '--size', '4096', '--json'));
      const attach = await beta('volume', 'attach', own.id, '--instance', instance.id);
      expectExit(attach, 1);
      expect(attach.stderr).toMatch(/^bulkhead: not_found: /);

      expect((await alpha('instance', 'show', instance.id, '--json')).stdout).toBe(before.instance.stdout);
      expect((await alpha('volume', 'show', volume.id, '--json')).stdout).toBe(before.volume.stdout);
      const still = await runBinary(['object', 'get', storage, 'in/stdin.bin'], as('cli-api-alpha').env);
      expect(still.code).toBe(0);
      expect(still.stdout.length).toBe(256 + 1 + 200_000);
    });

    it('exits 2 on usage errors, before any request', async () => {
      expectExit(await alpha('volume', 'create', 'nosize'), 2);
      expectExit(await alpha('volume', 'create', 'bad', '--size', 'lots'), 2);
      expectExit(await alpha('instance', 'show', 'not-an-id'), 2);
      expectExit(await alpha('object', 'get', storage, 'k', '--json'), 2);
      expectExit(
        await runCli(
          ['grant', 'create', '--from', 'a', '--to', 'b', '--action', 'nope', '--reason', 'r'],
          operator(),
        ),
        2,
      );
      // Objects need the server; straight on the store the command says so, as a configuration error.
      const direct = await runCli(['object', 'get', storage, 'k'], {
        env: { ...env, BULKHEAD_KEY: keys['cli-api-alpha']! },
      });
      expectExit(direct, 2);
      expect(direct.stderr).toContain('BULKHEAD_URL');
    });

    it('grants access for a while (--expires-in or --expires-at) and revokes it', async () => {
      const started = Date.now();
      const created = await runCli(
        [
          'grant',
          'create',
          '--from',
          'cli-api-beta',
          '--to',
          'cli-api-alpha',
          '--action',
          'instances.read',
          '--resource',
          instance.id,
          '--expires-in',
          '1h',
          '--reason',
          'support ticket 7',
          '--json',
        ],
        operator(),
      );
      const grant = json<{
        id: string;
        from: string;
        to: string;
        expiresAt: string;
        revokedAt: string | null;
      }>(created);
      expect(grant).toMatchObject({
        from: domainIds['cli-api-beta'],
        to: domainIds['cli-api-alpha'],
        revokedAt: null,
      });
      const lasts = Date.parse(grant.expiresAt) - started;
      expect(lasts).toBeGreaterThan(3590_000);
      expect(lasts).toBeLessThan(3700_000);

      const at = new Date(Date.now() + 86_400_000).toISOString();
      const second = json<{ id: string; expiresAt: string }>(
        await runCli(
          [
            'grant',
            'create',
            '--from',
            'cli-api-beta',
            '--to',
            'cli-api-alpha',
            '--action',
            'volumes.read',
            '--expires-at',
            at,
            '--reason',
            'audit',
            '--json',
          ],
          operator(),
        ),
      );
      expect(Date.parse(second.expiresAt)).toBe(Date.parse(at));
      expectExit(
        await runCli(
          [
            'grant',
            'create',
            '--from',
            'cli-api-beta',
            '--to',
            'cli-api-alpha',
            '--action',
            'volumes.read',
            '--expires-at',
            at,
            '--expires-in',
            '1h',
            '--reason',
            'both',
          ],
          operator(),
        ),
        2,
      );

      const listed = json<{ id: string }[]>(
        await runCli(['grant', 'list', '--domain', 'cli-api-alpha', '--json'], operator()),
      );
      expect(listed.map((g) => g.id).sort()).toEqual([grant.id, second.id].sort());
      const revoked = json<{ revokedAt: string | null }>(
        await runCli(['grant', 'revoke', grant.id, '--json'], operator()),
      );
      expect(revoked.revokedAt).not.toBeNull();
      const live = json<{ id: string }[]>(await runCli(['grant', 'list', '--json'], operator()));
      expect(live.map((g) => g.id)).toEqual([second.id]);
    });

    it('creates, lists, disables principals and revokes a user session', async () => {
      const user = json<{ id: string; email: string; role: string }>(
        await runCli(
          [
            'principal',
            'create',
            '--domain',
            'cli-api-alpha',
            '--email',
            'ada@example.com',
            '--password-stdin',
            '--role',
            'admin',
            '--json',
          ],
          { ...operator(), input: 'a long enough password\n' },
        ),
      );
      expect(user).toMatchObject({ email: 'ada@example.com', role: 'admin' });
      const service = await runCli(
        ['principal', 'create', '--domain', 'cli-api-alpha', '--kind', 'service'],
        operator(),
      );
      expectExit(service, 0);
      expect(service.stdout).toMatch(/^clientSecret: bhs_/m);
      const listed = json<{ id: string }[]>(
        await runCli(['principal', 'list', '--domain', 'cli-api-alpha', '--json'], operator()),
      );
      expect(listed).toHaveLength(2);
      expect(
        json<{ id: string }>(
          await runCli(['principal', 'show', user.id, '--domain', 'cli-api-alpha', '--json'], operator()),
        ).id,
      ).toBe(user.id);
      // Not in the other domain.
      expectExit(await runCli(['principal', 'show', user.id, '--domain', 'cli-api-beta'], operator()), 1);
      expectExit(await runCli(['principal', 'disable', user.id, '--domain', 'cli-api-beta'], operator()), 1);

      // A user signs in; the operator ends the session, and a second revoke finds nothing.
      const login = await fetch(`${server.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: server.url },
        body: JSON.stringify({
          domain: 'cli-api-alpha',
          username: 'ada@example.com',
          password: 'a long enough password',
        }),
      });
      expect(login.status).toBe(200);
      const { sessionId } = (await login.json()) as { sessionId: string };
      expectExit(await runCli(['session', 'revoke', sessionId, '--domain', 'cli-api-beta'], operator()), 1);
      const revoked = await runCli(['session', 'revoke', sessionId, '--domain', 'cli-api-alpha'], operator());
      expectExit(revoked, 0);
      expect(revoked.stdout).toContain(sessionId);
      const again = await runCli(['session', 'revoke', sessionId, '--domain', 'cli-api-alpha'], operator());
      expectExit(again, 1);
      expect(again.stderr).toContain('not_found');

      // A change of role; not in the other domain, nor to a role that does not exist.
      const role = (name: string, domain = 'cli-api-alpha', ...rest: string[]) =>
        runCli(['principal', 'role', user.id, name, '--domain', domain, ...rest], operator());
      expectExit(await role('member', 'cli-api-beta'), 1);
      expectExit(await role('owner'), 2); // a usage error, before any request
      expect(json<{ role: string }>(await role('admin', 'cli-api-alpha', '--json')).role).toBe('admin');
      expect(
        json<{ id: string; role: string }>(await role('member', 'cli-api-alpha', '--json')),
      ).toMatchObject({
        id: user.id,
        role: 'member',
      });
      const shown = await role('member');
      expectExit(shown, 0);
      expect(shown.stdout).toContain('member');

      const disabled = json<{ status: string }>(
        await runCli(['principal', 'disable', user.id, '--domain', 'cli-api-alpha', '--json'], operator()),
      );
      expect(disabled.status).toBe('disabled');
    });

    it("shows a domain's pool to its key and the operator, and the operator sets it", async () => {
      const set = json<{ quotas: { instances: number }; limits: { requestBurst: number } }>(
        await runCli(
          [
            'pool',
            'set',
            '--domain',
            'cli-api-alpha',
            '--quota',
            'instances=7',
            '--limit',
            'requestBurst=77',
            '--json',
          ],
          operator(),
        ),
      );
      expect(set.quotas.instances).toBe(7);
      expect(set.limits.requestBurst).toBe(77);
      const own = json<typeof set>(await alpha('pool', 'show', '--json'));
      expect(own).toEqual(set);
      const table = await alpha('pool', 'show');
      expect(table.stdout).toMatch(/^quota +instances +7$/m);
      expect(
        json<typeof set>(await runCli(['pool', 'show', '--domain', 'cli-api-alpha', '--json'], operator())),
      ).toEqual(set);
      // beta's pool is its own.
      expect(json<typeof set>(await beta('pool', 'show', '--json')).quotas.instances).not.toBe(7);
      expectExit(await runCli(['pool', 'set', '--domain', 'cli-api-alpha'], operator()), 2);
    });

    it('provisions a blueprint as one and shows it, to its key and to the operator only', async () => {
      const created = await alpha(
        'blueprint',
        'create',
        'stack',
        '--resource',
        'storage:one',
        '--resource',
        'storage:two',
      );
      expectExit(created, 0);
      const id = /^(bpr_[0-9a-z]{26}) stack ready$/m.exec(created.stdout)?.[1];
      expect(id, created.stdout).toBeDefined();
      expect(created.stdout.match(/res_[0-9a-z]{26}/g)).toHaveLength(2);
      const shown = json<{ id: string; resources: unknown[] }>(
        await alpha('blueprint', 'show', id!, '--json'),
      );
      expect(shown.resources).toHaveLength(2);
      expect(
        json<{ id: string }>(
          await runCli(['blueprint', 'show', id!, '--domain', 'cli-api-alpha', '--json'], operator()),
        ).id,
      ).toBe(id);
      const refused = await beta('blueprint', 'show', id!);
      expectExit(refused, 1);
      expect(refused.stderr).toMatch(/^bulkhead: not_found: /);
    });

    it('deletes an instance (its volume is detached and kept) and then the volume', async () => {
      expectExit(await alpha('instance', 'delete', instance.id), 0);
      expect(json<Volume>(await alpha('volume', 'show', volume.id, '--json'))).toMatchObject({
        status: 'available',
        instanceId: null,
      });
      const deleted = json<Volume>(await alpha('volume', 'delete', volume.id, '--json'));
      expect(deleted.status).toBe('deleting');
      expectExit(await alpha('volume', 'show', volume.id), 1);
    });
  },
);
