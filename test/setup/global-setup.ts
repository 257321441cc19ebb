// Runs once before any test: checks that this machine has every service the suite talks to, set up as the
// tests need it, and otherwise stops the run at once with one message that says what to run. Without it,
// a missing service or a PostgreSQL that lets every role in shows up as dozens of failures and skipped
// tests far from their cause. The defaults are the ones test/helpers use (kept in step by hand: this
// file must not load the sources, so that a broken build still gets this message first).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface ServiceUrls {
  readonly postgres: string;
  readonly redis: string;
  readonly rabbitmq: string;
  /** The PgBouncer binaries to look for, first found wins. */
  readonly pgbouncer: readonly string[];
  /** The nginx binaries to look for (the reverse proxy the proxy tests run), first found wins. */
  readonly nginx: readonly string[];
  /** Debian's chromium (the browser the portal and sign-in tests drive), first found wins. */
  readonly chromium: readonly string[];
  /**
   * Programs the tests run from PATH: psql (the tenants' logins), jq (the README's walkthrough),
   * prometheus and promtool (a real scrape of the server, the metrics text and the alert rules checked).
   */
  readonly programs: readonly string[];
}

export const serviceUrls: ServiceUrls = {
  postgres: process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redis: process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  rabbitmq: process.env['BULKHEAD_TEST_RABBITMQ_URL'] ?? 'http://guest:guest@127.0.0.1:15672',
  pgbouncer: ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'],
  nginx: ['/usr/sbin/nginx', '/usr/bin/nginx'],
  chromium: ['/usr/bin/chromium', '/usr/lib/chromium/chromium'],
  programs: ['psql', 'jq', 'prometheus', 'promtool'],
};

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error)) || 'no answer';

/** The PostgreSQL problems: unreachable, or a role let in with a wrong password over TCP. */
async function checkPostgres(url: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (error) {
    return [
      `PostgreSQL is not reachable as its admin at ${redact(url)} (${reason(error)}). Start it, or set ` +
        'BULKHEAD_TEST_POSTGRES_URL to a server whose user may create roles and databases.',
    ];
  }
  // A throwaway role of a unique name (other runs share the server), dropped whatever happens.
  const role = `bulkhead_login_check_${randomBytes(6).toString('hex')}`;
  try {
    const { rows } = await admin.query<{ user: string; hba: string }>(
      'SELECT current_user AS "user", current_setting(\'hba_file\') AS hba',
    );
    const { user, hba } = rows[0]!;
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${randomBytes(16).toString('hex')}'`);
    const server = new URL(url);
    const probe = new pg.Client({
      host: server.hostname === 'localhost' ? '127.0.0.1' : server.hostname,
      port: Number(server.port || 5432),
      database: decodeURIComponent(server.pathname.slice(1)) || 'postgres',
      user: role,
      password: 'wrong',
      connectionTimeoutMillis: 5_000,
    });
    let accepted = false;
    try {
      await probe.connect();
      accepted = true;
    } catch {
      // Refused, as the tests need.
    } finally {
      await probe.end().catch(() => {});
    }
    if (!accepted) return [];
    return [
      `PostgreSQL at ${server.host} lets a role log in with a wrong password over TCP; the isolation tests ` +
        `need it to ask every role but ${user} for its password. Put these lines first in ${hba}:\n` +
        `      host all ${user} 127.0.0.1/32 trust\n` +
        `      host all ${user} ::1/128 trust\n` +
        '      host all all 127.0.0.1/32 scram-sha-256\n' +
        '      host all all ::1/128 scram-sha-256\n' +
        `    then: psql ${JSON.stringify(redact(url))} -c 'SELECT pg_reload_conf()'`,
    ];
  } catch (error) {
    return [`PostgreSQL at ${redact(url)}: could not check logins (${reason(error)}).`];
  } finally {
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end().catch(() => {});
  }
}

async function checkRedis(url: string): Promise<string[]> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let cause: unknown;
  redis.on('error', (error) => (cause ??= error)); // the first error says more than "connection closed"
  try {
    await redis.connect();
    await redis.ping();
    return [];
  } catch (error) {
    return [
      `Redis is not reachable at ${redact(url)} (${reason(cause ?? error)}). Start it, or set ` +
        'BULKHEAD_TEST_REDIS_URL.',
    ];
  } finally {
    redis.disconnect();
  }
}

async function checkRabbitmq(url: string): Promise<string[]> {
  const base = new URL(url);
  const api = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/overview`;
  const auth = Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`);
  try {
    const res = await fetch(api, {
      headers: { authorization: `Basic ${auth.toString('base64')}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (res.ok) return [];
    return [
      `RabbitMQ's management API at ${base.origin} answered ${res.status} to ${redact(url)}'s user; ` +
        'the tests need an administrator (BULKHEAD_TEST_RABBITMQ_URL).',
    ];
  } catch (error) {
    return [
      `RabbitMQ's management API is not reachable at ${base.origin} (${reason(error)}). Start RabbitMQ and ` +
        'run "rabbitmq-plugins enable rabbitmq_management", or set BULKHEAD_TEST_RABBITMQ_URL.',
    ];
  }
}

function checkPgbouncer(paths: readonly string[]): string[] {
  if (paths.some((path) => spawnSync(path, ['--version']).status === 0)) return [];
  return [`PgBouncer is not installed (looked for ${paths.join(', ')}): apt-get install pgbouncer.`];
}

function checkNginx(paths: readonly string[]): string[] {
  if (paths.some((path) => spawnSync(path, ['-v']).status === 0)) return [];
  return [`nginx is not installed (looked for ${paths.join(', ')}): apt-get install nginx.`];
}

function checkChromium(paths: readonly string[]): string[] {
  if (paths.some((path) => spawnSync(path, ['--version']).status === 0)) return [];
  return [`chromium is not installed (looked for ${paths.join(', ')}): apt-get install chromium.`];
}

function checkPrograms(programs: readonly string[]): string[] {
  const missing = programs.filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0);
  if (missing.length === 0) return [];
  const names = [...new Set(missing.map(packageOf))];
  return [`${missing.join(' and ')} not found on PATH: apt-get install ${names.join(' ')}.`];
}

const packages: Readonly<Record<string, string>> = { psql: 'postgresql-client', promtool: 'prometheus' };
const packageOf = (program: string) => packages[program] ?? program;

/** A URL with its password replaced by `…`, fit for a message. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '…';
    return u.toString();
  } catch {
    return url;
  }
}

/** Every problem found with the services the tests need; empty when the suite can run. */
export async function checkServices(urls: ServiceUrls = serviceUrls): Promise<string[]> {
  const found = await Promise.all([
    checkPostgres(urls.postgres),
    checkRedis(urls.redis),
    checkRabbitmq(urls.rabbitmq),
    Promise.resolve(checkPgbouncer(urls.pgbouncer)),
    Promise.resolve(checkNginx(urls.nginx)),
    Promise.resolve(checkChromium(urls.chromium)),
    Promise.resolve(checkPrograms(urls.programs)),
  ]);
  return found.flat();
}

/** The one message a run stops with: each problem, then what sets up everything at once. */
export function servicesMessage(problems: readonly string[]): string {
  return (
    'The tests cannot run on this machine:\n' +
    problems.map((p) => `  - ${p}\n`).join('') +
    'On a Debian machine, "bash .ci/run" (as root) installs, starts and configures all of them, then runs ' +
    'the tests. See README.md for what each service must allow.'
  );
}

export default async function setup(): Promise<void> {
  const problems = await checkServices();
  if (problems.length > 0) {
    const error = new Error(servicesMessage(problems));
    error.stack = error.message; // the message is the whole story: no trace below it
    throw error;
  }
}
