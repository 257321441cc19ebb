// Starts a real PgBouncer (the Debian package's binary) in front of the test PostgreSQL server, with a
// configuration of its own in a temporary directory and a free port of its own. A PgBouncer that cannot
// be started fails the suite; it is never skipped (.ci/run installs the package).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPostgresUrl } from './backends.js';
import { accepts, freePort } from './processes.js';

export type PoolMode = 'session' | 'transaction';

export interface PgBouncer {
  readonly port: number;
  /** `url` (a database URL of the test server) with its host and port replaced by this PgBouncer's. */
  through(url: string): string;
  /** Stops PgBouncer and removes its directory. */
  stop(): Promise<void>;
}

const binary = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find(
  (path) => spawnSync(path, ['--version']).status === 0,
);

const quoted = (value: string) => `"${value.replace(/"/g, '""')}"`;

/**
 * Starts PgBouncer in `mode` with a server pool of `poolSize` per database and user, every database of
 * the test server behind it. Clients are trusted (the test's own user and any in `options.users`, listed
 * in the auth file with their passwords, which PgBouncer uses to log in to the server).
 */
export async function startPgBouncer(
  mode: PoolMode,
  poolSize = 1,
  options: {
    /** What runs on a server connection a client gave back in session mode (PgBouncer: `DISCARD ALL`). */
    serverResetQuery?: string;
    /** More logins PgBouncer lets in, by name, with the passwords it logs in to the server with. */
    users?: Readonly<Record<string, string>>;
  } = {},
): Promise<PgBouncer> {
  if (binary === undefined) {
    throw new Error('pgbouncer is not installed (apt-get install pgbouncer; .ci/run does it)');
  }
  const server = new URL(testPostgresUrl);
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = decodeURIComponent(server.password);
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-pgbouncer-'));
  // PgBouncer refuses to run as root: it is told to switch to the PostgreSQL server's own account.
  const runAs = process.getuid?.() === 0 ? 'postgres' : null;
  const settings = (port: number) =>
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      `default_pool_size = ${poolSize}`,
      'reserve_pool_size = 0',
      'min_pool_size = 0',
      'max_client_conn = 200',
      'ignore_startup_parameters = extra_float_digits,options',
      'query_wait_timeout = 30',
      ...(options.serverResetQuery === undefined ? [] : [`server_reset_query = ${options.serverResetQuery}`]),
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n');
  const users = { ...options.users, [user]: password };
  writeFileSync(
    join(dir, 'users.txt'),
    Object.entries(users)
      .map(([name, secret]) => `${quoted(name)} ${quoted(secret)}\n`)
      .join(''),
    { mode: 0o600 },
  );
  if (runAs !== null) {
    const { uid, gid } = accountOf(runAs);
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'users.txt'), uid, gid);
  }
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'pgbouncer.ini');
    writeFileSync(configPath, settings(port), { mode: 0o644 });
    const child: ChildProcess = spawn(binary, [...(runAs === null ? [] : ['-u', runAs]), configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let up = false;
    let gone = false;
    void exited.then(() => (gone = true));
    for (let waited = 0; waited < 10_000 && !gone; waited += 50) {
      if (await accepts(port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up && !gone) {
      return {
        port,
        through(url) {
          const u = new URL(url);
          u.hostname = '127.0.0.1';
          u.port = String(port);
          return u.toString();
        },
        async stop() {
          if (!gone) {
            child.kill('SIGINT');
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
            if (!gone) child.kill('SIGKILL');
            await exited;
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exited;
    lastError = output.trim();
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`pgbouncer did not start: ${lastError}`);
}

function accountOf(name: string): { uid: number; gid: number } {
  const out = spawnSync('id', ['-u', name]).stdout.toString().trim();
  const group = spawnSync('id', ['-g', name]).stdout.toString().trim();
  const uid = Number(out);
  const gid = Number(group);
  if (out === '' || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`pgbouncer must not run as root, and there is no "${name}" account to run it as`);
  }
  return { uid, gid };
}
