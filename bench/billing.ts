// What billing costs, beside a baseline measured in the same run.
//
//   npm run bench:billing      (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// 1. Recording usage: `BillingService.recordUsage` (the period lock, the insert made only when the meter is
//    priced and the period open, and what tells a retry from a conflict, sent as one message through
//    `Store.change`) against the bare INSERT … ON CONFLICT DO NOTHING of the same rows through the same
//    store and door (`Store.change`, one message: the domain's scope and the insert), each with
//    BENCH_WORKERS concurrent workers over one domain: a warm-up of each, then BENCH_RECORD_ROUNDS rounds
//    (default 5) alternating, and the median of each side. Target: ≥ 0.7× the bare rate.
// 2. Closing a period: BENCH_DOMAINS domains (default 1,000) with BENCH_RECORDS_PER_DOMAIN usage records
//    each (default 100), seeded in bulk as the owner, closed in one call; the time per invoice of the first
//    and the last tenth of the domains (the issue's figures: 10,000 × 100 in under 60 s, the last domains'
//    invoices no dearer than 1.5× the first ones').
// 3. Listing a domain's invoices over HTTP: `GET /v1/domains/{id}/invoices` with an access token of the
//    domain, through the real server, against a bare Fastify route that runs the same query as the owner
//    (no authentication, no row-level security) and answers the same JSON, driven by autocannon in a
//    process of its own (BENCH_SECONDS per round, BENCH_ROUNDS rounds, interleaved). Target: ≥ 0.7×.
// BENCH_PARTS (default `record,list,close`) picks which of them run. The database is dropped at the end.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { Result } from 'autocannon';
import Fastify from 'fastify';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { invoiceView } from '../src/billing/service.js';
import { buildServer } from '../src/http/server.js';
import { buildServices } from '../src/runtime.js';
import { insertUsageStatement } from '../src/store/repositories/billing.js';
import type { Database } from '../src/store/schema.js';
import { openStore, type Store } from '../src/store/store.js';
import { backendCpu, cpuBetween } from './cpu.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const records = Number(process.env['BENCH_RECORDS'] ?? 5000);
const workers = Number(process.env['BENCH_WORKERS'] ?? 8);
const domains = Number(process.env['BENCH_DOMAINS'] ?? 1000);
const perDomain = Number(process.env['BENCH_RECORDS_PER_DOMAIN'] ?? 100);
const actor = { actor: 'bench', requestId: null };
const seconds = Number(process.env['BENCH_SECONDS'] ?? 8);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
const recordRounds = Number(process.env['BENCH_RECORD_ROUNDS'] ?? 5);
const parts = new Set((process.env['BENCH_PARTS'] ?? 'record,list,close').split(','));
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 10);
const autocannonCli = createRequire(import.meta.url).resolve('autocannon');
const run = promisify(execFile);

/** Requests per second autocannon gets from `url`, in a process of its own; stops on any non-2xx. */
async function load(url: string, headers: Record<string, string>, duration: number): Promise<number> {
  const args = [autocannonCli, '--json', '--no-progress', '-c', String(connections), '-d', String(duration)];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}:${value}`);
  const { stdout } = await run(process.execPath, [...args, url], { maxBuffer: 16 * 1024 * 1024 });
  const result = JSON.parse(stdout) as Result;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return result['2xx'] / result.duration;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

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

/** `rate`, with the CPU time the database's backends spent per call (µs; null when not visible). */
async function rateAndCpu(
  monitor: pg.Client,
  n: number,
  one: (i: number) => Promise<unknown>,
): Promise<{ rate: number; cpu: number | null }> {
  const before = await backendCpu(monitor);
  const perSecond = await rate(n, one);
  const seconds = cpuBetween(before, await backendCpu(monitor));
  return { rate: perSecond, cpu: seconds === null ? null : (seconds * 1e6) / n };
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
  const volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-bench-volumes-'));
  const services = buildServices(store, randomBytes(32), {
    providers: new Map(),
    volumeRoot,
    slugQuarantineMs: 0,
  });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    console.log(
      `load average: ${(await import('node:os'))
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const billing = services.billing;
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
    // The same rows on both sides (one domain, meter `calls`, quantity 1, `at` now, source `api`, a fresh
    // event id each), each one message through `Store.change`.
    const bare = (round: number) => (i: number) =>
      store.change(recorder, (db) => [
        insertUsageStatement(db, {
          domainId: recorder,
          eventId: `bare-${round}-${i}`,
          meter: 'calls',
          quantity: 1n,
          at: now,
          recordedAt: new Date(),
        }),
      ]);
    const service = (round: number) => (i: number) =>
      billing.recordUsage(recorder, { meter: 'calls', quantity: 1, eventId: `svc-${round}-${i}`, at: time });
    if (parts.has('record')) {
      const monitor = new pg.Client({ connectionString: database.url });
      await monitor.connect();
      cleanup.push(() => monitor.end());
      // Warm both paths, then alternate: bare, service, bare, service, …
      await rate(500, bare(0));
      await rate(500, service(0));
      const bareRuns: { rate: number; cpu: number | null }[] = [];
      const serviceRuns: { rate: number; cpu: number | null }[] = [];
      for (let round = 1; round <= recordRounds; round++) {
        bareRuns.push(await rateAndCpu(monitor, records, bare(round)));
        serviceRuns.push(await rateAndCpu(monitor, records, service(round)));
      }
      const rates = (runs: typeof bareRuns) => runs.map((r) => r.rate);
      const ratio = median(rates(serviceRuns)) / median(rates(bareRuns));
      const each = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
      console.log(
        `record usage: ${median(rates(serviceRuns)).toFixed(0)}/s through the service, ${median(rates(bareRuns)).toFixed(0)}/s bare insert ` +
          `(${workers} workers, ${records} records a round, medians of ${recordRounds} rounds: ${each(rates(serviceRuns))} ` +
          `against ${each(rates(bareRuns))}): ${ratio.toFixed(2)}× (target ≥ 0.7×)`,
      );
      const cpus = (runs: typeof bareRuns) => runs.flatMap((r) => (r.cpu === null ? [] : [r.cpu]));
      if (cpus(bareRuns).length > 0 && cpus(serviceRuns).length > 0)
        console.log(
          `  database CPU per record: ${median(cpus(serviceRuns)).toFixed(0)} µs through the service, ` +
            `${median(cpus(bareRuns)).toFixed(0)} µs bare (${(median(cpus(serviceRuns)) / median(cpus(bareRuns))).toFixed(2)}×)`,
        );
    }

    if (parts.has('list')) await listInvoices(services, database.url, cleanup);
    if (!parts.has('close')) return;

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
    for (const step of cleanup) await step().catch(() => undefined);
    await store.close();
    await database.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  }
}

/** 3: a domain's invoice list over HTTP, with an access token, against the bare route. */
async function listInvoices(
  services: ReturnType<typeof buildServices>,
  url: string,
  cleanup: (() => Promise<unknown>)[],
): Promise<void> {
  const operatorToken = 'bench-operator-token-0123456789abcdefgh';
  await services.operator.initialise(operatorToken);
  const domain = await services.domains.create(actor, { slug: 'bench-invoices', name: 'bench' });
  // Twelve closed months, each with usage.
  const now = new Date();
  for (let m = 12; m >= 1; m--) {
    const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - m, 10));
    await services.billing.recordUsage(domain.id, {
      meter: 'calls',
      quantity: 1000 + m,
      eventId: `month-${m}`,
      at: at.toISOString(),
    });
    await services.billing.closeDomainPeriod(actor, domain.id, at.toISOString().slice(0, 7));
  }
  const user = await services.principals.create(actor, domain.id, {
    kind: 'user',
    email: 'bench@example.com',
    password: 'correct horse battery staple',
  });
  const userRow = await services.store.withDomain(domain.id, (tx) =>
    tx.selectFrom('principals').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow(),
  );
  const accessToken = async () => (await services.tokens.issue(actor, userRow, 'bench')).access_token;
  const app = await buildServer(services);
  cleanup.unshift(() => app.close());
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  // One domain driven as hard as it goes: its share of the server is turned off (docs/operating.md).
  const share = await fetch(`${origin}/v1/domains/${domain.id}/pool`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 0 } }),
  });
  if (!share.ok) throw new Error(`PUT pool: ${share.status} ${await share.text()}`);
  const bulkheadUrl = `${origin}/v1/domains/${domain.id}/invoices`;

  // The baseline: the same query and the same JSON, as the owner (RLS does not apply), no credential.
  const ownerPool = new pg.Pool({ connectionString: url, max: 10 });
  ownerPool.on('error', () => {});
  const owner = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
  cleanup.push(() => owner.destroy());
  const bare = Fastify();
  cleanup.unshift(() => bare.close());
  bare.get<{ Params: { domainId: string } }>('/v1/domains/:domainId/invoices', async (request) => {
    const rows = await owner
      .selectFrom('invoices')
      .selectAll()
      .where('domain_id', '=', request.params.domainId)
      .orderBy('number', 'desc')
      .limit(20)
      .execute();
    return { items: rows.map((row) => invoiceView(row)) };
  });
  const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}/v1/domains/${domain.id}/invoices`;
  const token = await accessToken();
  const bodies = await Promise.all([
    fetch(bulkheadUrl, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json()),
    fetch(bareUrl).then((r) => r.json()),
  ]);
  if (!isDeepStrictEqual(bodies[0], bodies[1])) throw new Error('the baseline answers a different body');
  if ((bodies[0] as { items: unknown[] }).items.length !== 12) throw new Error('expected 12 invoices');

  await load(bareUrl, {}, 2);
  await load(bulkheadUrl, { authorization: `Bearer ${token}` }, 2);
  const baseRates: number[] = [];
  const tokenRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    baseRates.push(await load(bareUrl, {}, seconds));
    // Access tokens live five minutes at most: each round gets a fresh one.
    tokenRates.push(await load(bulkheadUrl, { authorization: `Bearer ${await accessToken()}` }, seconds));
  }
  const ratio = median(tokenRates) / median(baseRates);
  console.log(
    `list invoices (12) over HTTP: ${median(tokenRates).toFixed(0)}/s with an access token, ` +
      `${median(baseRates).toFixed(0)}/s bare route (owner, no auth, no RLS); autocannon ${connections} connections, ` +
      `${rounds} rounds of ${seconds} s (${tokenRates.map((x) => x.toFixed(0)).join(' / ')} against ` +
      `${baseRates.map((x) => x.toFixed(0)).join(' / ')}): ${ratio.toFixed(2)}× (target ≥ 0.7×)`,
  );
}

await main();
