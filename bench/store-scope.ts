// What the store's hardening of each transaction's scope costs, against the same work without it, in the
// same run and on the same data:
// - the pinned search path: a tenant read sent as the store sends it (one message: the scope, then the
//   query), with the scope of three statements (role, search path, domain) against the former two (the
//   domain entered, as since migration 0019, with a token signed for the message);
// - a system door of its own: a system read on the application pool's connections (`SET LOCAL ROLE
//   bulkhead_system`, as the store does without BULKHEAD_DATABASE_SYSTEM_URL) against the same read on a
//   separate pool that logs in as a role of its own, a member of the system role only (as the store does
//   with it).
//
//   npx tsx bench/store-scope.ts      (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// Variants run interleaved, several rounds of a few seconds each with a few concurrent workers, on fresh
// pools each round; it prints operations per second and the median latency of one worker alone, and the
// ratio to the baseline. The database and the bench's login role are dropped at the end.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { newId } from '../src/domain/ids.js';
import { appRole, systemRole } from '../src/store/migrations.js';
import { enterScope, sealScope } from '../src/store/scope.js';
import { openStore, storeSearchPath } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const workers = Number(process.env['BENCH_WORKERS'] ?? 4);
const domains = 200;

interface Variant {
  readonly name: string;
  /** The pool it runs on (a fresh one each round) and the message of one operation. */
  readonly pool: () => pg.Pool;
  readonly message: (domainId: string) => string;
}

async function timed(variant: Variant, ids: readonly string[], ms: number, concurrency: number) {
  const pool = variant.pool();
  pool.on('error', () => {});
  const run = (i: number) => pool.query(variant.message(ids[i % ids.length]!));
  for (let i = 0; i < 200; i++) await run(i); // warm up: connections, plans
  const latencies: number[] = [];
  let done = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < until; i += concurrency) {
        const started = performance.now();
        await run(i);
        latencies.push(performance.now() - started);
        done++;
      }
    }),
  );
  await pool.end();
  latencies.sort((a, b) => a - b);
  return { rate: done / (ms / 1000), median: latencies[Math.floor(latencies.length / 2)]! };
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const login = `bulkhead_bench_system_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await (await openStore({ kind: 'postgres', url: database.url })).close();
    const seed = new pg.Client({ connectionString: database.url });
    await seed.connect();
    const ids = Array.from({ length: domains }, () => newId('domain'));
    await seed.query(`SET bulkhead.system = 'on'`);
    for (const id of ids) {
      await seed.query(
        `INSERT INTO domains (id, slug, name, status, created_at, updated_at)
         VALUES ($1, $2, 'bench', 'active', now(), now())`,
        [id, `bench-${id.slice(-12)}`],
      );
    }
    // The scope key, read as the owner: the tenant reads sign their scope as the store does.
    const key = (await seed.query<{ key: Buffer }>('SELECT key FROM scope_keys')).rows[0]!.key;
    await seed.end();
    // A login of the bench's own, a member of the system role only (never bulkhead_app or bulkhead_system
    // themselves, which other processes on this server use).
    const password = randomBytes(16).toString('hex');
    await admin.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE ${systemRole}`);
    const asLogin = new URL(database.url);
    asLogin.username = login;
    asLogin.password = password;

    const pool = (url: string, role: string) => () =>
      new pg.Pool({ connectionString: url, max: workers, options: `-c role=${role}` });
    const read = (id: string) => `SELECT id, slug, status FROM domains WHERE id = '${id}'`;
    const variants: Variant[] = [
      {
        name: 'tenant read, scope of two (before)',
        pool: pool(database.url, appRole),
        message: (id) => sealScope(key, `SET LOCAL ROLE ${appRole}; ${enterScope(id)}; ${read(id)}`),
      },
      {
        name: 'tenant read, search path pinned',
        pool: pool(database.url, appRole),
        message: (id) =>
          sealScope(
            key,
            `SET LOCAL ROLE ${appRole}; SET LOCAL search_path = ${storeSearchPath}; ${enterScope(id)}; ${read(id)}`,
          ),
      },
      {
        name: 'system read, application pool',
        pool: pool(database.url, appRole),
        message: (id) =>
          `SET LOCAL ROLE ${systemRole}; SET LOCAL search_path = ${storeSearchPath}; SET LOCAL bulkhead.domain_id = ''; ${read(id)}`,
      },
      {
        name: 'system read, its own login and pool',
        pool: pool(asLogin.toString(), systemRole),
        message: (id) =>
          `SET LOCAL ROLE ${systemRole}; SET LOCAL search_path = ${storeSearchPath}; SET LOCAL bulkhead.domain_id = ''; ${read(id)}`,
      },
    ];
    const rates = new Map<string, number[]>();
    const medians = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        const many = await timed(variant, ids, seconds * 1000, workers);
        const alone = await timed(variant, ids, 1000, 1);
        (rates.get(variant.name) ?? rates.set(variant.name, []).get(variant.name)!).push(many.rate);
        (medians.get(variant.name) ?? medians.set(variant.name, []).get(variant.name)!).push(alone.median);
      }
    }
    const median = (values: readonly number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(
      `${rounds} rounds of ${seconds} s, ${workers} workers; the median round. Latency: one worker alone.`,
    );
    const baseline = (name: string) => ({
      rate: median(rates.get(name)!),
      latency: median(medians.get(name)!),
    });
    const pairs = [
      [variants[0]!.name, variants[1]!.name],
      [variants[2]!.name, variants[3]!.name],
    ] as const;
    for (const [before, after] of pairs) {
      const b = baseline(before);
      const a = baseline(after);
      for (const [name, v] of [
        [before, b],
        [after, a],
      ] as const) {
        console.log(
          `  ${name.padEnd(40)} ${v.rate.toFixed(0).padStart(7)} ops/s  ${(v.latency * 1000).toFixed(0).padStart(5)} µs`,
        );
      }
      console.log(
        `  ratio (after / before)                   ${(a.rate / b.rate).toFixed(3).padStart(7)} rate   ${(a.latency / b.latency).toFixed(3)} latency\n`,
      );
    }
  } finally {
    await database.drop().catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => undefined);
    await admin.end();
  }
}

await main();
