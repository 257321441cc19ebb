// What billing costs, beside a baseline measured in the same run.
//
//   npm run bench:billing      (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// 1. Recording usage: `BillingService.recordUsage` (the price-book check, the period lock, the closed-period
//    check, the insert, in the domain's scoped transaction) against the bare INSERT of the same rows
//    through the same store (`store.withDomain` + the repository's insert), each with a few concurrent
//    workers over one domain. Target: ≥ 0.7× the bare rate.
// 2. Closing a period: BENCH_DOMAINS domains (default 1,000) with BENCH_RECORDS_PER_DOMAIN usage records
//    each (default 100), seeded in bulk as the owner, closed in one call; the time per invoice of the first
//    and the last tenth of the domains (the issue's figures: 10,000 × 100 in under 60 s, the last domains'
//    invoices no dearer than 1.5× the first ones').
// The database is dropped at the end.
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { BillingService } from '../src/billing/service.js';
import { insertUsage } from '../src/store/repositories/billing.js';
import { openStore, type Store } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const records = Number(process.env['BENCH_RECORDS'] ?? 5000);
const workers = Number(process.env['BENCH_WORKERS'] ?? 8);
const domains = Number(process.env['BENCH_DOMAINS'] ?? 1000);
const perDomain = Number(process.env['BENCH_RECORDS_PER_DOMAIN'] ?? 100);
const actor = { actor: 'bench', requestId: null };

/** Runs `n` calls of `one` over `workers` concurrent workers; answers calls per second. */
async function rate(n: number, one: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < n; i = next++) await one(i);
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

/** Domains `dom_000…1` on, each with its usage records, written in bulk in the system context. */
async function seed(store: Store, at: Date): Promise<void> {
  await store.system('operator', async (tx) => {
    await sql`
      INSERT INTO domains (id, slug, name, status, created_at, updated_at)
      SELECT 'dom_' || lpad(g::text, 26, '0'), 'bench-' || g, 'bench ' || g, 'active', ${at}::timestamptz, ${at}::timestamptz
      FROM generate_series(1, ${domains}::int) g`.execute(tx);
    await sql`
      INSERT INTO usage_records (domain_id, event_id, meter, quantity, at, recorded_at, source)
      SELECT 'dom_' || lpad(d::text, 26, '0'), 'e' || r, CASE WHEN r % 2 = 0 THEN 'calls' ELSE 'emails' END,
             r, ${at}::timestamptz, ${at}::timestamptz, 'api'
      FROM generate_series(1, ${domains}::int) d, generate_series(1, ${perDomain}::int) r`.execute(tx);
  });
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const store = await openStore({ kind: 'postgres', url: database.url, poolSize: workers + 2 });
  try {
    const billing = new BillingService({ store });
    const now = new Date();
    const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 5));
    const period = at.toISOString().slice(0, 7);
    await billing.setPrices(actor, {
      currency: 'EUR',
      meters: [
        { meter: 'calls', unit: 'call', unitPrice: 3, per: 10, included: 100 },
        { meter: 'emails', unit: 'email', unitPrice: 25 },
      ],
    });
    await store.system('operator', (tx) =>
      sql`INSERT INTO domains (id, slug, name, status, created_at, updated_at)
          VALUES ('dom_zzzzzzzzzzzzzzzzzzzzzzzzzz', 'bench-recorder', 'recorder', 'active', now(), now())`.execute(
        tx,
      ),
    );
    const recorder = 'dom_zzzzzzzzzzzzzzzzzzzzzzzzzz';
    const time = now.toISOString();
    // Warm both paths, then alternate: bare, service, bare, service.
    const bare = (round: number) => (i: number) =>
      store.withDomain(recorder, (tx) =>
        insertUsage(tx, {
          domainId: recorder,
          eventId: `bare-${round}-${i}`,
          meter: 'calls',
          quantity: 1n,
          at: now,
          recordedAt: now,
        }),
      );
    const service = (round: number) => (i: number) =>
      billing.recordUsage(recorder, { meter: 'calls', quantity: 1, eventId: `svc-${round}-${i}`, at: time });
    await rate(200, bare(0));
    await rate(200, service(0));
    const bareRates: number[] = [];
    const serviceRates: number[] = [];
    for (let round = 1; round <= 2; round++) {
      bareRates.push(await rate(records, bare(round)));
      serviceRates.push(await rate(records, service(round)));
    }
    const best = (xs: number[]) => Math.max(...xs);
    const ratio = best(serviceRates) / best(bareRates);
    console.log(
      `record usage: ${best(serviceRates).toFixed(0)}/s through the service, ${best(bareRates).toFixed(0)}/s bare insert ` +
        `(${workers} workers, ${records} records a round): ${ratio.toFixed(2)}× (target ≥ 0.7×)`,
    );

    await seed(store, at);
    const started = performance.now();
    const result = await billing.closePeriod(actor, period);
    const seconds = (performance.now() - started) / 1000;
    const { rows } = await store.system('operator', (tx) =>
      sql<{ domain_id: string; closed_at: Date }>`
        SELECT domain_id, closed_at FROM invoices WHERE period = ${period} ORDER BY closed_at`.execute(tx),
    );
    // Time per invoice over the first and the last tenth, from the spacing of their closing times.
    const tenth = Math.max(2, Math.floor(rows.length / 10));
    const span = (part: typeof rows) =>
      (part.at(-1)!.closed_at.getTime() - part[0]!.closed_at.getTime()) / (part.length - 1);
    const first = span(rows.slice(0, tenth));
    const last = span(rows.slice(-tenth));
    console.log(
      `close ${period}: ${result.created} invoices from ${domains * perDomain} usage records in ${seconds.toFixed(1)} s; ` +
        `${first.toFixed(2)} ms per invoice in the first tenth, ${last.toFixed(2)} ms in the last (${(last / first).toFixed(2)}×, target ≤ 1.5×)`,
    );
  } finally {
    await store.close();
    await database.drop();
  }
}

await main();
