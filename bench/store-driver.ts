// Whether a driver that pipelines could do what `store.read` does — the scope and the query in one round
// trip — with the query's parameters bound instead of written into its text (`src/store/inline.ts`).
//
//   npm run bench:driver          (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// Seeds a fresh database with BENCH_DOMAINS domains of BENCH_VOLUMES_PER_DOMAIN volumes each, then times
// the same primary-key lookup of a volume, in the same process and on the same rows:
// - the floor: the owner (no row-level security), one autocommit statement, through node-postgres and
//   through postgres.js (prepared, bound);
// - `store.read` as it is: node-postgres, one simple-protocol message holding the signed scope and the
//   query, its parameters written as literals (and the query prepared on the connection by name);
// - postgres.js, pipelined on a reserved connection: the signed `BEGIN` and scope as one simple-protocol
//   message (exactly what `store.withDomain` sends first), the lookup with bound parameters (extended
//   protocol, prepared), and `COMMIT`, all written before any answer is read;
// - the same with `prepare: false` (what a pooler in transaction mode without prepared statements needs):
//   postgres.js then asks the server for the parameter types before it binds, a round trip of its own;
// - postgres.js's own transaction (`sql.begin`), the scope and the lookup pipelined inside it;
// - Kysely over postgres.js (`kysely-postgres-js`): a Kysely transaction, the signed scope (one statement:
//   the connection logs in with the application role and the search path), the lookup; Kysely awaits
//   each statement, so nothing is pipelined, and the dialect runs queries through `sql.unsafe`, which
//   postgres.js does not prepare.
// Rates (BENCH_WORKERS concurrent loops, pools of 10, BENCH_ROUNDS rounds of BENCH_SECONDS interleaved,
// medians) come with the CPU time per lookup in this process and in the backends. Then the round trips
// each one costs, counted by a proxy in this process (a client write that follows an answer starts
// one), and one worker's time per lookup straight and through a proxy that holds every chunk
// BENCH_DELAY_MS (default 5) in each direction, as a network would.
// Before timing, it checks that each scoped variant finds the row in its own domain, none in another,
// and that a scope whose MAC is wrong runs nothing. The database is dropped at the end.
import { createHash, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Kysely, PostgresDialect, sql as ksql } from 'kysely';
import { PostgresJSDialect } from 'kysely-postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import { appRole } from '../src/store/migrations.js';
import { enterScope, sealScope } from '../src/store/scope.js';
import type { Database } from '../src/store/schema.js';
import { openStore, storeSearchPath } from '../src/store/store.js';
import { backendCpu, cpuBetween } from './cpu.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const domains = Number(process.env['BENCH_DOMAINS'] ?? 100);
const perDomain = Number(process.env['BENCH_VOLUMES_PER_DOMAIN'] ?? 100);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const workers = Number(process.env['BENCH_WORKERS'] ?? 8);
const delayMs = Number(process.env['BENCH_DELAY_MS'] ?? 5);
const poolSize = 10;

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
const at = (i: number) => targets[i % targets.length]!;

async function seed(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO domains (id, slug, name, status, created_at, updated_at)
       SELECT ${domainSql('d')}, 'bench-' || d, 'bench ' || d, 'active', now(), now()
       FROM generate_series(0, $1::int - 1) d`,
      [domains],
    );
    await client.query(
      `INSERT INTO volumes (id, domain_id, name, size_bytes, status, created_at, updated_at)
       SELECT ${volumeSql('g')}, ${domainSql('g % $1::int')}, 'vol-' || (g / $1::int), 1073741824, 'available', now(), now()
       FROM generate_series(0, $2::int - 1) g`,
      [domains, domains * perDomain],
    );
    await client.query('VACUUM ANALYZE domains');
    await client.query('VACUUM ANALYZE volumes');
  } finally {
    await client.end();
  }
}

/**
 * A TCP proxy to `port` that counts round trips: on each connection, a chunk from the client that follows
 * an answer from the server (or is the first) starts one, so chunks the client writes before reading
 * anything count once, however the operating system splits them. With `ms`, every chunk is also held
 * that long in each direction (in order), as a network between client and server would.
 */
async function countingProxy(port: number, ms: number): Promise<{ server: Server; trips: () => number }> {
  const sockets = new Set<Socket>();
  let trips = 0;
  const server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    // Without it, a reply that comes in several chunks waits on the client's delayed acknowledgement.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    let answered = true;
    const pass = (to: Socket, chunk: Buffer) =>
      ms > 0 ? setTimeout(() => to.write(chunk), ms) : to.write(chunk);
    client.on('data', (chunk) => {
      if (answered) trips++;
      answered = false;
      pass(upstream, chunk);
    });
    upstream.on('data', (chunk) => {
      answered = true;
      pass(client, chunk);
    });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => sockets.delete(from));
    }
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, trips: () => trips };
}

type Row = { id: string };

function check(rows: readonly Row[], d: string, v: string): void {
  if (rows[0]?.id !== v) throw new Error(`volume ${v} not found in ${d}`);
}

interface Variant {
  readonly label: string;
  lookup(d: string, v: string): Promise<Row[]>;
}

interface Connections {
  readonly all: Variant[];
  close(): Promise<void>;
}

/** What `store.withDomain` sends first, signed: `BEGIN`, the role, the search path and the scope. */
const scopeMessage = (key: Buffer, d: string) =>
  sealScope(
    key,
    `BEGIN; SET LOCAL ROLE ${appRole}; SET LOCAL search_path = ${storeSearchPath}; ${enterScope(d)}`,
  );

/**
 * The signed scope, the lookup with bound parameters and the COMMIT, written together on one reserved
 * connection. If the scope is refused, the server leaves the transaction aborted: the lookup fails
 * (25P02) without running and the COMMIT rolls back, so nothing ever runs outside the scope.
 */
async function pipelined(db: postgres.Sql, key: Buffer, d: string, v: string): Promise<Row[]> {
  const conn = await db.reserve();
  try {
    const results = await Promise.allSettled([
      conn.unsafe(scopeMessage(key, d)).simple(),
      conn<Row[]>`SELECT * FROM volumes WHERE domain_id = ${d} AND id = ${v}`,
      conn.unsafe('COMMIT').simple(),
    ]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    return (results[1] as PromiseFulfilledResult<Row[]>).value;
  } finally {
    conn.release();
  }
}

async function connect(url: string, key: Buffer): Promise<Connections> {
  const store = await openStore({ kind: 'postgres', url, poolSize });
  const ownerPool = new pg.Pool({ connectionString: url, max: poolSize });
  ownerPool.on('error', () => {});
  const owner = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
  const options = { max: poolSize, onnotice: () => {} };
  const pjs = postgres(url, options);
  const pjsUnprepared = postgres(url, { ...options, prepare: false });
  const pjsKysely = new Kysely<Database>({
    dialect: new PostgresJSDialect({
      postgres: postgres(url, {
        ...options,
        connection: { role: appRole, search_path: storeSearchPath },
      }),
    }),
  });
  const all: Variant[] = [
    {
      label: 'floor: owner, node-postgres, one autocommit statement',
      lookup: (d, v) =>
        owner.selectFrom('volumes').selectAll().where('domain_id', '=', d).where('id', '=', v).execute(),
    },
    {
      label: 'floor: owner, postgres.js, one autocommit statement',
      lookup: (d, v) => pjs<Row[]>`SELECT * FROM volumes WHERE domain_id = ${d} AND id = ${v}`,
    },
    {
      label: 'store.read (node-postgres, literals inlined)',
      lookup: async (d, v) => {
        const [rows] = await store.read(d, (db) => [
          db.selectFrom('volumes').selectAll().where('domain_id', '=', d).where('id', '=', v),
        ]);
        return rows;
      },
    },
    {
      label: 'postgres.js pipelined, bound, prepared',
      lookup: (d, v) => pipelined(pjs, key, d, v),
    },
    {
      label: 'postgres.js pipelined, bound, prepare: false',
      lookup: (d, v) => pipelined(pjsUnprepared, key, d, v),
    },
    {
      label: 'postgres.js sql.begin, scope + lookup pipelined',
      lookup: (d, v) =>
        pjs.begin(async (tx) => {
          const [, rows] = await Promise.all([
            tx
              .unsafe(
                sealScope(
                  key,
                  `SET LOCAL ROLE ${appRole}; SET LOCAL search_path = ${storeSearchPath}; ${enterScope(d)}`,
                ),
              )
              .simple(),
            tx<Row[]>`SELECT * FROM volumes WHERE domain_id = ${d} AND id = ${v}`,
          ]);
          return rows;
        }),
    },
    {
      label: 'Kysely + kysely-postgres-js transaction',
      lookup: (d, v) =>
        pjsKysely.transaction().execute(async (trx) => {
          // One statement per message here: the role and the search path are the connection's own.
          await ksql.raw(sealScope(key, enterScope(d))).execute(trx);
          return trx
            .selectFrom('volumes')
            .selectAll()
            .where('domain_id', '=', d)
            .where('id', '=', v)
            .execute();
        }),
    },
  ];
  return {
    all,
    async close() {
      await Promise.allSettled([
        store.close(),
        owner.destroy(),
        pjs.end({ timeout: 1 }),
        pjsUnprepared.end({ timeout: 1 }),
        pjsKysely.destroy(),
      ]);
    },
  };
}

/** Every scoped variant finds the row in its own domain, nothing from another, and runs nothing unsigned. */
async function checkScopes(url: string, key: Buffer): Promise<void> {
  const set = await connect(url, key);
  try {
    const a = at(0);
    let other = at(1);
    for (let i = 2; other.d === a.d; i++) other = at(i);
    for (const variant of set.all.slice(2)) {
      check(await variant.lookup(a.d, a.v), a.d, a.v);
      const seen = await variant.lookup(other.d, a.v);
      if (seen.length !== 0) throw new Error(`${variant.label}: saw ${a.d}'s volume from ${other.d}`);
    }
    // A wrong MAC: the lookup must fail without a row and the connection stay usable.
    const wrongKey = Buffer.alloc(32, 7);
    const pjs = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const refused = await pipelined(pjs, wrongKey, a.d, a.v).then(
        () => null,
        (error: unknown) => error as { code?: string },
      );
      if (refused?.code !== '42501')
        throw new Error(`a wrong MAC was not refused: ${JSON.stringify(refused)}`);
      // Inside an aborted transaction this would fail; inside the scope's, the role would be the app's.
      const [state] = await pjs<{ open: boolean }[]>`SELECT current_user = session_user AS open`;
      if (state?.open !== true) throw new Error('the connection was left inside the scope');
    } finally {
      await pjs.end({ timeout: 1 });
    }
  } finally {
    await set.close();
  }
  console.log(
    'Checked: every scoped variant finds its own domain’s volume, none of another’s, and a scope with a wrong MAC runs nothing.',
  );
}

interface Figures {
  readonly rate: number;
  readonly client: number;
  readonly server: number | null;
}

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (x: number | null) => (x === null ? '   ?' : x.toFixed(0).padStart(4));

async function throughput(monitor: pg.Client, url: string, key: Buffer): Promise<void> {
  const figures: Figures[][] = [];
  let labels: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const set = await connect(url, key);
    try {
      labels = set.all.map((v) => v.label);
      const ops = set.all.map((variant) => async (i: number) => {
        const { d, v } = at(i);
        check(await variant.lookup(d, v), d, v);
      });
      for (const op of ops) await measure(monitor, op, 1000);
      for (const [k, op] of ops.entries())
        (figures[k] ??= []).push(await measure(monitor, op, seconds * 1000));
    } finally {
      await set.close();
    }
  }
  const rate = (k: number) => median(figures[k]!.map((f) => f.rate));
  console.log(
    `\nScoped primary-key lookup — ops/s (median of ${rounds} rounds of ${seconds} s; ${workers} workers, pools of ${poolSize}),` +
      `\nratio to the node-postgres floor and to store.read, CPU µs per lookup in this process + in the backends:`,
  );
  for (const [k, label] of labels.entries()) {
    const f = figures[k]!;
    const server = f.every((x) => x.server !== null) ? median(f.map((x) => x.server!)) : null;
    console.log(
      `  ${label.padEnd(50)} ${rate(k).toFixed(0).padStart(6)}  ${(rate(k) / rate(0)).toFixed(2)}  ${(rate(k) / rate(2)).toFixed(2)}` +
        `   cpu ${us(median(f.map((x) => x.client)))} + ${us(server)}   (${f.map((x) => x.rate.toFixed(0)).join(' / ')})`,
    );
  }
}

/**
 * Round trips per lookup, counted by a proxy (one worker alone, after a warm-up, over `samples` lookups),
 * and the time per lookup straight and with `delayMs` added each way.
 */
async function roundTrips(monitor: pg.Client, url: string, key: Buffer): Promise<void> {
  const port = Number(new URL(url).port || 5432);
  const counter = await countingProxy(port, 0);
  const delayed = await countingProxy(port, delayMs);
  const via = (proxy: Server) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String((proxy.address() as AddressInfo).port);
    return u.toString();
  };
  const direct = await connect(url, key);
  const counted = await connect(via(counter.server), key);
  const slow = await connect(via(delayed.server), key);
  const samples = 200;
  console.log(
    `\nRound trips per lookup (counted at a proxy, one worker, ${samples} lookups after a warm-up), and ms per` +
      `\nlookup for one worker straight and with ${delayMs} ms added each way (median of 3 runs):`,
  );
  try {
    for (const [k, variant] of direct.all.entries()) {
      const op = (v: Variant) => async (i: number) => {
        const t = at(i);
        check(await v.lookup(t.d, t.v), t.d, t.v);
      };
      for (let i = 0; i < 50; i++) await op(counted.all[k]!)(i); // connections open, statements prepared
      const before = counter.trips();
      for (let i = 0; i < samples; i++) await op(counted.all[k]!)(i);
      const trips = (counter.trips() - before) / samples;
      const time = async (v: Variant, ms: number) => {
        const runs: number[] = [];
        await measure(monitor, op(v), 300, 1);
        for (let r = 0; r < 3; r++) runs.push(1000 / (await measure(monitor, op(v), ms, 1)).rate);
        return median(runs);
      };
      const straight = await time(variant, 1000);
      const late = await time(slow.all[k]!, 1500);
      console.log(
        `  ${variant.label.padEnd(50)} ${trips.toFixed(2).padStart(5)} round trips   ${straight.toFixed(2).padStart(6)} ms  ${late.toFixed(1).padStart(6)} ms`,
      );
    }
  } finally {
    await Promise.allSettled([direct.close(), counted.close(), slow.close()]);
    counter.server.close();
    delayed.server.close();
  }
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const url = database.url;
  const monitor = new pg.Client({ connectionString: url });
  try {
    // The store migrates the fresh database before the seed.
    await (await openStore({ kind: 'postgres', url, poolSize: 1 })).close();
    await monitor.connect();
    await seed(url);
    const { rows } = await monitor.query<{ key: Buffer }>('SELECT key FROM scope_keys');
    const key = rows[0]!.key;
    console.log(
      `Seeded ${domains} domains of ${perDomain} volumes; postgres.js ${postgresVersion()}, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}.`,
    );
    await checkScopes(url, key);
    await throughput(monitor, url, key);
    await roundTrips(monitor, url, key);
  } finally {
    await monitor.end().catch(() => undefined);
    await database.drop();
  }
}

function postgresVersion(): string {
  const path = new URL('../node_modules/postgres/package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

await main();
