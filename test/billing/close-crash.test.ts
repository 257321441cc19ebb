// Kill -9 in the middle of closing a billing period, then close again: every domain has its complete
// invoice (all its lines, its audit event) or none at all, and the second close writes exactly the missing
// ones, with no domain billed twice and the audit chains, invoice hashes included, intact. Runs the built
// server against PostgreSQL, with the failpoint that kills it while the sixth invoice is being committed
// (after a first batch of four domains committed).
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpCallerOf } from '../helpers/api.js';
import { createTestDatabase } from '../helpers/backends.js';
import { assertBuilt, killAll, startServer, tempDir, type Server } from '../helpers/processes.js';

const token = 'billing-crash-operator-token-0123456789abcdef';
const domains = 12;

describe('closing a period killed midway', () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let store: pg.Client;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-billing-crash-');
    store = new pg.Client({ connectionString: database.url });
    await store.connect();
  });
  afterEach(async () => {
    await killAll();
  });
  afterAll(async () => {
    await store.end();
    await database.drop();
    dir.remove();
  });

  const serve = (extra: Record<string, string> = {}): Promise<Server> =>
    startServer(['serve', '--port', '0', '--log-level', 'warn'], {
      env: {
        BULKHEAD_DATABASE_URL: database.url,
        BULKHEAD_SECRET: 'b'.repeat(64),
        BULKHEAD_OPERATOR_TOKEN: token,
        // The test closes the month itself, killed midway: the server must not close it on its own.
        BULKHEAD_BILLING_CLOSE_AFTER: 'off',
        BULKHEAD_STORAGE_DIR: `${dir.path}/storage`,
        ...extra,
      },
      timeoutMs: 60_000,
    });

  it('leaves each domain with its whole invoice or none, and a second close finishes without duplicates', async () => {
    const now = new Date();
    const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 5)).toISOString();
    const period = at.slice(0, 7);
    const server = await serve({ BULKHEAD_TEST_FAILPOINT: 'mid-close' });
    const first = httpCallerOf(server.url, { token });
    // A setup request that must succeed: its answer's JSON.
    const made = async (method: string, path: string, body?: unknown) => {
      const res = await first(method, path, { body });
      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
      return res.json() as Promise<Record<string, unknown>>;
    };
    await made('PUT', '/v1/billing/prices', {
      currency: 'EUR',
      meters: [
        { meter: 'calls', unit: 'call', unitPrice: 3, per: 10 },
        { meter: 'emails', unit: 'email', unitPrice: 25 },
      ],
    });
    for (let i = 0; i < domains; i++) {
      const { id } = (await made('POST', '/v1/domains', { slug: `crash-bill-${i}`, name: `crash ${i}` })) as {
        id: string;
      };
      for (const meter of ['calls', 'emails'])
        await made('POST', `/v1/domains/${id}/usage`, { meter, quantity: 10 + i, eventId: meter, at });
    }

    // The close dies with the server.
    await expect(first('POST', `/v1/billing/periods/${period}/close`)).rejects.toThrow();
    await server.exited;

    const billed = async () =>
      (
        await store.query<{ domain_id: string; n: number; lines: number; events: number }>(
          `SELECT i.domain_id, count(DISTINCT i.id)::int AS n,
                  (SELECT count(*)::int FROM invoice_lines l WHERE l.domain_id = i.domain_id) AS lines,
                  (SELECT count(*)::int FROM audit_events e
                    WHERE e.domain_id = i.domain_id AND e.action = 'invoice.close') AS events
           FROM invoices i GROUP BY i.domain_id`,
        )
      ).rows;
    const partial = await billed();
    // Some domains were billed before the kill, not all; each of them completely.
    expect(partial.length).toBeGreaterThanOrEqual(4);
    expect(partial.length).toBeLessThan(domains);
    for (const d of partial) expect(d).toMatchObject({ n: 1, lines: 2, events: 1 });

    const again = await serve();
    const second = httpCallerOf(again.url, { token });
    const closed = await second('POST', `/v1/billing/periods/${period}/close`);
    expect(closed.status).toBe(200);
    expect(await closed.json()).toEqual({
      period,
      created: domains - partial.length,
      existing: partial.length,
    });
    const all = await billed();
    expect(all).toHaveLength(domains);
    for (const d of all) expect(d).toMatchObject({ n: 1, lines: 2, events: 1 });
    const numbers = await store.query<{ number: number }>('SELECT DISTINCT number FROM invoices');
    expect(numbers.rows).toEqual([{ number: 1 }]);
    const verify = await second('GET', '/v1/audit/verify');
    expect(await verify.json()).toMatchObject({ ok: true });
  }, 120_000);
});
