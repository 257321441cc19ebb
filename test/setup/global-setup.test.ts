// The check that runs once before the suite: on a machine set up as the tests need it finds nothing, and
// on one that is not (a PostgreSQL that lets every role in, no Redis, no RabbitMQ, no PgBouncer) it names
// each problem with what to run, in one message, instead of letting dozens of tests fail or skip.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkServices, serviceUrls, servicesMessage } from './global-setup.js';
import { freePort } from '../helpers/processes.js';
import { startTrustingPostgres, type TrustingPostgres } from '../helpers/trusting-postgres.js';

describe('the services check run before the suite', () => {
  let trusting: TrustingPostgres;

  beforeAll(async () => {
    trusting = await startTrustingPostgres();
  });

  afterAll(async () => {
    await trusting?.stop();
  });

  it('finds nothing wrong on this machine', async () => {
    expect(await checkServices()).toEqual([]);
  });

  it('names the pg_hba.conf lines for a PostgreSQL that lets every role in', async () => {
    const problems = await checkServices({ ...serviceUrls, postgres: trusting.url });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/lets a role log in with a wrong password over TCP/);
    expect(problems[0]).toMatch(/Put these lines first in \/\S+pg_hba\.conf:/);
    expect(problems[0]).toContain('host all postgres 127.0.0.1/32 trust');
    expect(problems[0]).toContain('host all all 127.0.0.1/32 scram-sha-256');
    expect(problems[0]).toContain('SELECT pg_reload_conf()');
    // The throwaway role it logged in with is gone again.
    const client = new pg.Client({ connectionString: trusting.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'bulkhead_login_check%'",
      );
      expect(rows).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('names every missing service in one message that says what to run', async () => {
    const closed = await freePort();
    const problems = await checkServices({
      postgres: `postgres://postgres@127.0.0.1:${closed}/postgres`,
      redis: `redis://127.0.0.1:${closed}`,
      rabbitmq: `http://guest:guest@127.0.0.1:${closed}`,
      pgbouncer: ['/nonexistent/pgbouncer'],
      nginx: ['/nonexistent/nginx'],
      chromium: ['/nonexistent/chromium'],
      programs: ['psql', 'no-such-program-bulkhead'],
    });
    expect(problems).toHaveLength(7);
    const message = servicesMessage(problems);
    expect(message).toMatch(/^The tests cannot run on this machine:\n/);
    expect(message).toMatch(/PostgreSQL is not reachable .*BULKHEAD_TEST_POSTGRES_URL/);
    expect(message).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED/);
    expect(message).toMatch(/RabbitMQ's management API is not reachable .*rabbitmq-plugins enable/);
    expect(message).toMatch(/PgBouncer is not installed .*apt-get install pgbouncer/);
    expect(message).toMatch(/nginx is not installed .*apt-get install nginx/);
    expect(message).toMatch(/chromium is not installed .*apt-get install chromium/);
    expect(message).toMatch(/no-such-program-bulkhead not found on PATH: apt-get install no-such-program/);
    expect(message).toMatch(/"bash \.ci\/run"/);
  });
});
