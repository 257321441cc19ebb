// What row-level security and the one-transaction scope cost on tenant reads, against the same reads with
// no scope, in the same run and on the same data.
//
//   npm run bench:rls          (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// Seeds a fresh database with 1,000 domains and 1,000,000 volumes (1,000 each) in bulk, as the owner, then
// runs, for a fixed time each with a few concurrent workers:
// - a primary-key lookup and a 50-row list through `store.read` (the application role, RLS on, the scope
//   and the query in one message) and through `store.withDomain` (a transaction of three round trips);
// - the same two queries as the owner, one autocommit statement each (superuser: RLS does not apply);
// - two diagnostics: the owner with withDomain's three round trips but no RLS, and a scope that costs a
//   fourth round trip (a Kysely transaction plus a separate, signed `scope_open`).
// Every round opens new pools for all of them (and warms each up for a second), so that no variant keeps
// one set of backends, faster or slower than another, for the whole run.
// Beside each rate it prints the CPU time per operation in this process and in the database's backends
// (read from /proc when the server runs on this host), which depends less on neighbours' load than the rates do. Then
// the plans of both queries, scoped and unscoped, and the latency of one worker alone. The database is
// dropped at the end.
import { createHash, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { appRole } from '../src/store/migrations.js';
import { enterScope, sealScope } from '../src/store/scope.js';
import type { Database } from '../src/store/schema.js';
import { openStore, type Store } from '../src/store/store.js';
import { backendCpu, cpuBetween } from './cpu.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const domains = Number(process.env['BENCH_DOMAINS'] ?? 1000);
const perDomain = Number(process.env['BENCH_VOLUMES_PER_DOMAIN'] ?? 1000);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const workers = Number(process.env['BENCH_WORKERS'] ?? 8);
const poolSize = 10;
const target = 0.8;

// Ids of the seed, computed the same way in SQL and here: ten digits of sequence (like the time part of a
// real id, so rows arrive in id order) and sixteen hex digits of md5 (a subset of the id alphabet).
const domainSql = (n: string) => `'dom_' || lpad((${n})::text, 10, '0') || substr(md5('d' || (${n})), 1, 16)`;
const volumeSql = (n: string) => `'vol_' || lpad((${n})::text, 10, '0') || substr(md5('v' || (${n})), 1, 16)`;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const domainId = (d: number) => `dom_${String(d).padStart(10, '0')}${md5(`d${d}`).slice(0, 16)}`;
const volumeId = (g: number) => `vol_${String(g).padStart(10, '0')}${md5(`v${g}`).slice(0, 16)}`;

/** Random (domain, volume) pairs, drawn before timing so every variant reads the same rows. */
const targets = Array.from({ length: 20_000 }, () => {
  const g = randomInt(domains * perDomain);
  return { d: domainId(g % domains), v: volumeId(g) };
});

/** A Kysely over its own pool; with `role`, every connection runs as that role (like the store's pool). */
function kyselyOn(url: string, role?: string): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    ...(role === undefined ? {} : { options: `-c role=${role}` }),
  });
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

async function seed(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const total = domains * perDomain;
    const t = performance.now();
    // The connecting role is a superuser (RLS does not apply to it); the system setting says the same to
    // anyone reading the statements.
    await client.query(`SET bulkhead.system = 'on'`);
    await client.query(
      `INSERT INTO domains (id, slug, name, status, created_at, updated_at)
       SELECT ${domainSql('d')}, 'bench-' || d, 'bench ' || d, 'active', now(), now()
       FROM generate_series(0, $1::int - 1) d`,
      [domains],
    );
    // Volume g belongs to domain g % domains: each domain's volumes are spread over the table, as if the
    // domains had created them side by side over time.
    await client.query(
      `INSERT INTO volumes (id, domain_id, name, size_bytes, status, created_at, updated_at)
       SELECT ${volumeSql('g')}, ${domainSql('g % $1::int')}, 'vol-' || (g / $1::int), 1073741824, 'available', now(), now()
       FROM generate_series(0, $2::int - 1) g`,
      [domains, total],
    );
    await client.query('VACUUM ANALYZE domains');
    await client.query('VACUUM ANALYZE volumes');
    console.log(
      `Seeded ${domains.toLocaleString('en')} domains and ${total.toLocaleString('en')} volumes in ${((performance.now() - t) / 1000).toFixed(1)} s (bulk insert as the owner, then VACUUM ANALYZE).`,
    );
  } finally {
    await client.end();
  }
}

interface Figures {
  /** Operations per second. */
  readonly rate: number;
  /** CPU time per operation, in microseconds: this process, and the database's backends (null if unseen). */
  readonly client: number;
  readonly server: number | null;
}

/** Runs `op` in `n` concurrent loops for `ms` milliseconds. */
async function measure(
  monitor: pg.Client,
  op: (i: number) => Promise<void>,
  ms: number,
  n = workers,
): Promise<Figures> {
  let done = 0;
  const serverBefore = await backendCpu(monitor);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      for (let i = w; performance.now() < end; i += n) {
        await op(i);
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const client = process.cpuUsage(clientBefore);
  const server = cpuBetween(serverBefore, await backendCpu(monitor));
  return {
    rate: done / elapsed,
    client: (client.user + client.system) / done,
    server: server === null ? null : (server * 1e6) / done,
  };
}

type Query = 'get' | 'list';

// The two queries, built on any handle (a pool, a transaction, or the queries of Store.read).
const queries = {
  get: (db: Kysely<Database>, d: string, v: string) =>
    db.selectFrom('volumes').selectAll().where('domain_id', '=', d).where('id', '=', v),
  list: (db: Kysely<Database>, d: string) =>
    db.selectFrom('volumes').selectAll().where('domain_id', '=', d).orderBy('id').limit(50),
};

// Each read checks what it got, so a scope that hid the rows could not look fast.
function check(query: Query, rows: readonly { id: string }[], d: string, v: string): void {
  if (query === 'get' && rows[0]?.id !== v) throw new Error(`volume ${v} not found in ${d}`);
  if (query === 'list' && rows.length !== 50) throw new Error(`${rows.length} volumes listed in ${d}`);
}

const read = async (db: Kysely<Database>, query: Query, d: string, v: string) =>
  check(query, await queries[query](db, d, v).execute(), d, v);

interface Variant {
  readonly label: string;
  run(query: Query, d: string, v: string): Promise<void>;
}

function variants(
  store: Store,
  owner: Kysely<Database>,
  app: Kysely<Database>,
  ownerPool: pg.Pool,
  key: Buffer,
): Variant[] {
  return [
    {
      label: 'unscoped: owner, one autocommit statement (baseline)',
      run: (q, d, v) => read(owner, q, d, v),
    },
    {
      label: 'scoped: store.read (1 round trip)',
      run: async (q, d, v) => {
        const [rows] = await store.read(d, (db) => [queries[q](db, d, v)]);
        check(q, rows, d, v);
      },
    },
    {
      label: 'scoped: store.withDomain (3 round trips)',
      run: (q, d, v) => store.withDomain(d, (tx) => read(tx, q, d, v)),
    },
    {
      label: 'diagnostic: owner, the same 3 round trips, no RLS',
      run: (q, d, v) =>
        owner.connection().execute(async (conn) => {
          await sql.raw(`BEGIN; SELECT set_config('bulkhead.domain_id', '${d}', true)`).execute(conn);
          await read(conn, q, d, v);
          await sql.raw('COMMIT').execute(conn);
        }),
    },
    {
      label: 'diagnostic: app role, Kysely transaction + scope_open (4)',
      run: (q, d, v) =>
        app.transaction().execute(async (trx) => {
          await sql.raw(sealScope(key, enterScope(d))).execute(trx);
          await read(trx, q, d, v);
        }),
    },
    {
      label: 'diagnostic: owner, the baseline prepared by name, no RLS',
      run: async (q, d, v) => {
        const { sql: text, parameters } = queries[q](owner, d, v).compile();
        const { rows } = await ownerPool.query<{ id: string }>({
          name: `bench_${q}`,
          text,
          values: [...parameters],
        });
        check(q, rows, d, v);
      },
    },
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (x: number | null) => (x === null ? '   ?' : x.toFixed(0).padStart(4));

/** A fresh set of connections for every variant (a store and its pool, the owner's pool, the app pool). */
interface Connections {
  readonly all: Variant[];
  close(): Promise<void>;
}

async function throughput(monitor: pg.Client, connect: () => Promise<Connections>): Promise<Variant[]> {
  const names: Record<Query, string> = {
    get: 'Primary-key lookup (domain_id, id)',
    list: '50-row list (domain_id, order by id, limit 50)',
  };
  const at = (i: number) => targets[i % targets.length]!;
  let labels: Variant[] = [];
  for (const query of ['get', 'list'] as const) {
    const figures: Figures[][] = [];
    // Rounds interleave the variants, so a neighbour's load falls on all of them alike. Every round opens
    // new pools: on this kind of machine one set of backends can run the very same statement 15 % faster
    // or slower than another for as long as it lives, and a fresh draw each round keeps that luck from
    // deciding the comparison.
    for (let r = 0; r < rounds; r++) {
      const set = await connect();
      try {
        labels = set.all;
        for (const variant of set.all) {
          await measure(monitor, (i) => variant.run(query, at(i).d, at(i).v), 1000);
        }
        for (const [k, variant] of set.all.entries()) {
          (figures[k] ??= []).push(
            await measure(monitor, (i) => variant.run(query, at(i).d, at(i).v), seconds * 1000),
          );
        }
      } finally {
        await set.close();
      }
    }
    const all = labels;
    const rate = (k: number) => median(figures[k]!.map((f) => f.rate));
    console.log(
      `\n${names[query]} — ops/s (median of ${rounds} rounds of ${seconds} s; ${workers} workers, pools of ${poolSize}),` +
        `\nand CPU µs per operation in this process + in the PostgreSQL backends:`,
    );
    for (const [k, variant] of all.entries()) {
      const f = figures[k]!;
      const server = f.every((x) => x.server !== null) ? median(f.map((x) => x.server!)) : null;
      const each = f.map((x) => x.rate.toFixed(0)).join(' / ');
      console.log(
        `  ${variant.label.padEnd(58)} ${rate(k).toFixed(0).padStart(6)}  ${(rate(k) / rate(0)).toFixed(2)}` +
          `   cpu ${us(median(f.map((x) => x.client)))} + ${us(server)}   (${each})`,
      );
    }
    const ratio = rate(1) / rate(0);
    console.log(
      `  store.read / unscoped: ${ratio.toFixed(2)} (target ≥ ${target}: ${ratio >= target ? 'met' : 'NOT met'})`,
    );
    console.log(
      `  store.read / unscoped, prepared by name as store.read prepares: ${(rate(1) / rate(all.length - 1)).toFixed(2)}`,
    );
  }
  return labels;
}

/**
 * The plans of both queries, scoped (the application role in a domain transaction) and unscoped (the
 * owner), for one domain and volume of the run. Estimated rows are shown: row-level security adds the
 * policy's condition, and the planner's guess of how many rows pass it decides the plan.
 */
async function plans(url: string, key: Buffer): Promise<void> {
  const { d, v } = targets.at(-1)!;
  for (const scoped of [true, false]) {
    const client = new pg.Client({
      connectionString: url,
      ...(scoped ? { options: `-c role=${appRole}` } : {}),
    });
    await client.connect();
    try {
      for (const [label, text, values] of [
        ['lookup', 'SELECT * FROM volumes WHERE domain_id = $1 AND id = $2', [d, v]],
        ['list', 'SELECT * FROM volumes WHERE domain_id = $1 ORDER BY id LIMIT 50', [d]],
      ] as const) {
        await client.query(sealScope(key, `BEGIN; ${enterScope(d)}`));
        const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, [
          ...values,
        ]);
        await client.query('ROLLBACK');
        console.log(
          `\nPlan of the ${scoped ? `scoped ${label}, as ${appRole}` : `unscoped ${label}, as the owner`}:`,
        );
        for (const row of result.rows) console.log(`  ${row['QUERY PLAN']}`);
      }
    } finally {
      await client.end();
    }
  }
}

/** One worker alone: the time per lookup is mostly round trips, so it shows what each one costs. */
async function latency(monitor: pg.Client, all: Variant[]): Promise<void> {
  console.log('\nPrimary-key lookup, one worker alone — µs per operation (median of 3 runs of 2 s):');
  const at = (i: number) => targets[i % targets.length]!;
  let base = 0;
  for (const variant of all) {
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const f = await measure(monitor, (i) => variant.run('get', at(i).d, at(i).v), 2000, 1);
      runs.push(1e6 / f.rate);
    }
    const each = median(runs);
    base ||= each;
    console.log(
      `  ${variant.label.padEnd(58)} ${each.toFixed(0).padStart(5)} µs   ${(each / base).toFixed(2)}×`,
    );
  }
}

/** The scope key, read as the owner: the application role's diagnostics sign their scope as the store does. */
async function scopeKey(owner: pg.Pool | pg.Client): Promise<Buffer> {
  const { rows } = await owner.query<{ key: Buffer }>('SELECT key FROM scope_keys');
  return rows[0]!.key;
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const url = database.url;
  const monitor = new pg.Client({ connectionString: url });
  const connect = async (): Promise<Connections> => {
    const store = await openStore({ kind: 'postgres', url, poolSize });
    const owner = kyselyOn(url);
    const app = kyselyOn(url, appRole);
    const ownerPool = new pg.Pool({ connectionString: url, max: poolSize });
    ownerPool.on('error', () => {});
    return {
      all: variants(store, owner, app, ownerPool, await scopeKey(ownerPool)),
      async close() {
        await Promise.allSettled([owner.destroy(), app.destroy(), store.close(), ownerPool.end()]);
      },
    };
  };
  try {
    await monitor.connect();
    // The store migrates the fresh database before the seed.
    await (await connect()).close();
    await seed(url);
    await throughput(monitor, connect);
    await plans(url, await scopeKey(monitor));
    const set = await connect();
    try {
      await latency(monitor, set.all);
    } finally {
      await set.close();
    }
  } finally {
    await monitor.end().catch(() => undefined);
    await database.drop();
  }
}

await main();
