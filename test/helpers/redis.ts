// Redis for the provider suites: the test server named by BULKHEAD_TEST_REDIS_URL (default: the local
// one; a missing server fails the suite, it is never skipped), the real `redis-cli` and ioredis used as
// a tenant would use them, and a private redis-server for what a shared server cannot show.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Credentials } from '../../src/providers/provider.js';
import { freePort, tempDir } from './processes.js';

export const testRedisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** An admin connection to the test server; fails (never skips) when the server is not there. */
export async function openTestAdmin(url = testRedisUrl): Promise<Redis> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await admin.connect();
  return admin;
}

/**
 * A connection from a tenant's URL, made as a tenant's client would: no ready check, no retries. ioredis
 * reports a failed AUTH only as an 'error' event and goes on as the default user, so this waits for the
 * AUTH answer (it comes before the PING's) and rejects with it.
 */
export async function tenantRedis(credentials: Credentials): Promise<Redis> {
  const redis = new Redis(String(credentials['url']), {
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  const failed = new Promise<Error>((resolve) => redis.once('error', resolve));
  await redis.connect();
  const first = await Promise.race([redis.ping().then(() => null), failed]);
  redis.on('error', () => undefined);
  if (first !== null) {
    redis.disconnect();
    throw first;
  }
  return redis;
}

export interface CliResult {
  /** null when the timeout stopped it. */
  readonly code: number | null;
  /** redis-cli prints replies, error replies included, to stdout (and exits 0 after an error reply). */
  readonly stdout: string;
  /** A failed AUTH shows here; redis-cli then carries on as the default user. */
  readonly stderr: string;
}

function connectionArgs(credentials: Credentials, via: 'flags' | 'url'): string[] {
  if (via === 'url') return ['-u', String(credentials['url'])];
  return [
    '-h',
    String(credentials['host']),
    '-p',
    String(credentials['port']),
    '--user',
    String(credentials['username']),
    '--pass',
    String(credentials['password']),
  ];
}

/** Runs one command through the real `redis-cli` with the tenant's credentials. */
export function redisCli(
  credentials: Credentials,
  args: readonly string[],
  via: 'flags' | 'url' = 'flags',
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      [...connectionArgs(credentials, via), '--no-auth-warning', ...args],
      { timeout: 10_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        // Killed by the timeout is an answer (code null: it never finished); not starting is not.
        if (error !== null && code === null && error.killed !== true) {
          return reject(new Error('redis-cli did not run', { cause: error }));
        }
        resolve({
          code,
          stdout: stdout.trim(),
          stderr: stderr.trim(),
        });
      },
    );
  });
}

/** A `redis-cli SUBSCRIBE` left running: its output so far, and a way to stop it. */
export interface CliSubscriber {
  output(): string;
  /** Resolves once the output holds `text`, or rejects after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
  readonly exited: Promise<number | null>;
  stop(): void;
}

export function redisCliSubscribe(credentials: Credentials, args: readonly string[]): CliSubscriber {
  const child: ChildProcess = spawn(
    'redis-cli',
    [...connectionArgs(credentials, 'flags'), '--no-auth-warning', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    async waitFor(text, ms = 5_000) {
      const until = Date.now() + ms;
      while (!out.includes(text)) {
        if (Date.now() > until)
          throw new Error(
            `redis-cli never printed ${JSON.stringify(text)}; it printed ${JSON.stringify(out)}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exited,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** A command the server refused for lack of permission, with the login itself accepted. */
export function isRefusal(result: CliResult): boolean {
  return result.stderr === '' && result.stdout.startsWith('NOPERM');
}

/**
 * A private redis-server on a free port, as production should run one: the default user has a password,
 * and users are kept in an ACL file. `restart()` stops it and starts it again on the same files.
 */
export interface PrivateRedis {
  readonly adminUrl: string;
  readonly aclFile: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = tempDir('bulkhead-redis-');
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const aclFile = join(dir.path, 'users.acl');
  const sha = createHash('sha256').update(password).digest('hex');
  writeFileSync(aclFile, `user default on #${sha} ~* &* +@all\n`, { mode: 0o600 });
  const adminUrl = `redis://default:${password}@127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir.path,
        '--aclfile',
        aclFile,
      ],
      { stdio: 'ignore' },
    );
    const until = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(adminUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch (error) {
        if (Date.now() > until) throw error;
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    adminUrl,
    aclFile,
    async restart() {
      await stop();
      await start();
    },
    async stop() {
      await stop();
      dir.remove();
    },
  };
}
