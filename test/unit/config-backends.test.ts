// Configuration errors name the variable, PostgreSQL URLs are read as libpq reads them (socket
// directories included), and the start banner says where each backend points without a secret.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { backendLocations, bannerLines, safeReason } from '../../src/providers/backends.js';
import { serverSettings } from '../../src/providers/postgres/postgres-options.js';
import { describePostgresUrl, normalizePostgresUrl, postgresAddress } from '../../src/util/postgres-url.js';

const socketForms = [
  'postgres:///postgres?host=/var/run/postgresql',
  'postgresql://postgres@/postgres?host=/var/run/postgresql',
  'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres',
  'postgres://%2Fvar%2Frun%2Fpostgresql:5432/postgres',
];

describe('PostgreSQL URLs', () => {
  it.each(socketForms)('reads the socket directory of %s, decoded, in the host position', (form) => {
    const normal = normalizePostgresUrl(form);
    expect(normal).toMatch(/^postgres:\/\/(postgres@)?%2Fvar%2Frun%2Fpostgresql:5432\/postgres$/);
    expect(postgresAddress(new URL(normal))).toEqual({ host: '/var/run/postgresql', port: 5432 });
    // The provider hands tenants the directory itself, not its encoding (which no resolver finds).
    const settings = serverSettings({ kind: 'server', adminUrl: form, mode: 'database' });
    expect(settings.publicHost).toBe('/var/run/postgresql');
    expect(settings.publicPort).toBe(5432);
    expect(describePostgresUrl(form)).toBe('/var/run/postgresql:5432/postgres (socket)');
  });

  it('leaves a URL with a host as it is, and keeps its options and credentials', () => {
    for (const url of ['postgres://db/x', 'postgres://u:p%40ss@127.0.0.1:6543/app?sslmode=require'])
      expect(normalizePostgresUrl(url)).toBe(url);
    expect(normalizePostgresUrl('postgres://u:secret@/app?host=/tmp&port=6000&sslmode=disable')).toBe(
      'postgres://u:secret@%2Ftmp:6000/app?sslmode=disable',
    );
  });

  it('normalises the store and provider URLs in the configuration', () => {
    const config = loadConfig({
      BULKHEAD_DATABASE_URL: socketForms[0],
      BULKHEAD_DATABASE_SESSION_URL: socketForms[1],
      BULKHEAD_POSTGRES_URL: socketForms[2],
    });
    expect(config.databaseUrl).toBe('postgres://%2Fvar%2Frun%2Fpostgresql:5432/postgres');
    expect(config.databaseSessionUrl).toBe('postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/postgres');
    expect(config.postgresUrl).toBe('postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/postgres');
  });
});

describe('configuration errors', () => {
  const cases: [Record<string, string>, string][] = [
    [{ BULKHEAD_POSTGRES_URL: 'postgres://h1,h2/db' }, 'BULKHEAD_POSTGRES_URL'],
    [{ BULKHEAD_POSTGRES_URL: 'postgres://db:99999/x?host=db' }, 'BULKHEAD_POSTGRES_URL'],
    [{ BULKHEAD_POSTGRES_URL: 'mysql://db/x' }, 'BULKHEAD_POSTGRES_URL'],
    [{ BULKHEAD_DATABASE_URL: 'postgres://a b/x' }, 'BULKHEAD_DATABASE_URL'],
    [{ BULKHEAD_REDIS_URL: 'redis://' }, 'BULKHEAD_REDIS_URL'],
    [{ BULKHEAD_REDIS_URL: 'redis://[nope/' }, 'BULKHEAD_REDIS_URL'],
    [{ BULKHEAD_RABBITMQ_URL: 'http://guest:guest@' }, 'BULKHEAD_RABBITMQ_URL'],
    [{ BULKHEAD_RABBITMQ_AMQP_URL: 'amqp://' }, 'BULKHEAD_RABBITMQ_AMQP_URL'],
    [{ BULKHEAD_LOG_FORMAT: 'colourful' }, 'BULKHEAD_LOG_FORMAT'],
  ];
  it.each(cases)('%o stops the start naming %s, in one line', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`invalid configuration: ${variable} `), message).toBe(true);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('adminUrl');
  });

  it('never repeats a password it refuses', () => {
    expect(() => loadConfig({ BULKHEAD_POSTGRES_URL: 'postgres://u:hunter2@h1,h2/db' })).toThrow(
      /^(?!.*hunter2)/,
    );
  });

  it('reads the log format', () => {
    expect(loadConfig({}).logFormat).toBeUndefined();
    expect(loadConfig({ BULKHEAD_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({}, { logFormat: 'pretty' }).logFormat).toBe('pretty');
  });
});

describe('the start banner', () => {
  it('says where each backend points, never with its password', () => {
    const config = loadConfig({
      BULKHEAD_DATA_DIR: '/srv/bh',
      BULKHEAD_POSTGRES_URL: 'postgres://admin:pgsecret@db.internal:6432/postgres',
      BULKHEAD_REDIS_URL: 'redis://admin:redissecret@cache:6380',
      BULKHEAD_RABBITMQ_URL: 'http://admin:mqsecret@mq:15672',
    });
    const where = backendLocations(config);
    expect(where.store.location).toBe('pglite in /srv/bh');
    expect(where.postgres.location).toBe('db.internal:6432/postgres');
    expect(where.redis.location).toBe('cache:6380');
    expect(where.rabbitmq.location).toBe('mq:15672 (management)');
    expect(where.kubernetes.location).toBeNull();
    expect(where.storage.location).toBe('/srv/bh/storage');
    expect(JSON.stringify(where)).not.toMatch(/secret/);
  });

  it('lists every backend and warns, naming the variable, for each that is not up', () => {
    const lines = bannerLines([
      { backend: 'store', variable: 'BULKHEAD_DATA_DIR', location: 'pglite in d', state: 'up', reason: null },
      {
        backend: 'redis',
        variable: 'BULKHEAD_REDIS_URL',
        location: '127.0.0.1:1',
        state: 'down',
        reason: 'connect ECONNREFUSED 127.0.0.1:1',
      },
      {
        backend: 'kubernetes',
        variable: 'BULKHEAD_KUBECONFIG',
        location: '/nope',
        state: 'misconfigured',
        reason: 'kubeconfig /nope could not be read',
      },
      { backend: 'rabbitmq', variable: 'BULKHEAD_RABBITMQ_URL', location: null, state: 'off', reason: null },
    ]);
    expect(lines).toEqual([
      '  store       up             pglite in d',
      '  redis       down           127.0.0.1:1',
      '  kubernetes  misconfigured  /nope',
      '  rabbitmq    off            not configured (set BULKHEAD_RABBITMQ_URL)',
      expect.stringMatching(/^warning: redis at 127\.0\.0\.1:1 .*ECONNREFUSED.*check BULKHEAD_REDIS_URL/),
      expect.stringMatching(/^warning: kubernetes is misconfigured: .*fix BULKHEAD_KUBECONFIG/),
    ]);
  });

  it('keeps credentials out of a reason', () => {
    const error = new Error('fetch failed', {
      cause: new Error('connect to http://admin:mqsecret@mq:15672/api refused'),
    });
    expect(safeReason(error)).toBe('fetch failed: connect to http://mq:15672/api refused');
  });
});
