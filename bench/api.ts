// Requests per second of an authenticated, tenant-scoped read through the real HTTP server, against a bare
// route that runs the same query with no authentication and no row-level security, in the same run.
//
//   npm run bench:api          (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// One domain, one provisioning key, one user with an access token and a session cookie, one volume, on a
// fresh PostgreSQL database. autocannon (in a process of its own, so it shares neither the servers' event
// loop nor their CPU account) drives `GET /v1/domains/{id}/volumes/{volumeId}` with the token, the cookie,
// the key, and the baseline route on another port (the owner's connection, one autocommit statement, the same JSON). Beside
// each rate it prints the CPU time per request of the servers' process and of the PostgreSQL backends
// (bench/cpu.ts). Everything is removed at the end.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { Result } from 'autocannon';
import Fastify from 'fastify';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { buildServer } from '../src/http/server.js';
import { sessionCookie as cookieName } from '../src/identity/sessions.js';
import { buildServices, type Services } from '../src/runtime.js';
import { volumeView } from '../src/services/compute.js';
import type { Database } from '../src/store/schema.js';
import { openStore } from '../src/store/store.js';
import { backendCpu, cpuBetween } from './cpu.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 10);
const operatorToken = 'bench-operator-token-0123456789abcdefgh';
const actor = { actor: 'bench', requestId: null };
const target = 0.7;
const run = promisify(execFile);

const autocannonCli = createRequire(import.meta.url).resolve('autocannon');

interface Figures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU µs per request in this process (both servers) and in the database's backends (null if unseen). */
  readonly cpu: number;
  readonly dbCpu: number | null;
}

/** Drives `url` with autocannon in a process of its own, so the load generator's CPU is not counted here. */
async function load(
  monitor: pg.Client,
  url: string,
  headers: Record<string, string>,
  duration: number,
): Promise<Figures> {
  const args = [autocannonCli, '--json', '--no-progress', '-c', String(connections), '-d', String(duration)];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}:${value}`);
  const dbBefore = await backendCpu(monitor);
  const before = process.cpuUsage();
  const { stdout } = await run(process.execPath, [...args, url], { maxBuffer: 16 * 1024 * 1024 });
  const cpu = process.cpuUsage(before);
  const dbCpu = cpuBetween(dbBefore, await backendCpu(monitor));
  const result = JSON.parse(stdout) as Result;
  // A run that got refusals or errors measured something else: stop rather than print it.
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  }
  const done = result['2xx'];
  return {
    rps: done / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpu: (cpu.user + cpu.system) / done,
    dbCpu: dbCpu === null ? null : (dbCpu * 1e6) / done,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const url = new URL(database.url);
  const volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-bench-volumes-'));
  const monitor = new pg.Client({ connectionString: url.toString() });
  const cleanup: (() => Promise<unknown>)[] = [() => monitor.end()];
  try {
    await monitor.connect();
    const store = await openStore({ kind: 'postgres', url: url.toString() });
    const services: Services = buildServices(store, randomBytes(32), {
      providers: new Map(),
      volumeRoot,
      slugQuarantineMs: 0,
    });
    cleanup.push(() => services.close());
    await services.operator.initialise(operatorToken);
    const domain = await services.domains.create(actor, { slug: 'bench-api', name: 'bench' });
    const key = (await services.keys.issue(actor, domain.id)).key;
    const volume = await services.compute.createVolume(actor, domain.id, {
      name: 'data',
      sizeBytes: 1 << 20,
    });
    const user = await services.principals.create(actor, domain.id, {
      kind: 'user',
      email: 'bench@example.com',
      password: 'correct horse battery staple',
    });
    const userRow = await store.withDomain(domain.id, (tx) =>
      tx.selectFrom('principals').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow(),
    );
    // Access tokens live five minutes at most: each round gets a fresh one.
    const accessToken = async () => (await services.tokens.issue(actor, userRow, 'bench')).access_token;
    const sessionCookie = async () =>
      `${cookieName}=${(await services.sessions.login(actor, userRow)).cookie}`;

    const app = await buildServer(services);
    cleanup.unshift(() => app.close());
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });
    // The bench drives one domain as hard as it can: its share of the server (the rate and the requests in
    // flight, docs/operating.md) is turned off, or the figures would be the share's 429s.
    const share = await fetch(`${origin}/v1/domains/${domain.id}/pool`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 0 } }),
    });
    if (!share.ok) throw new Error(`PUT pool: ${share.status} ${await share.text()}`);
    const bulkheadUrl = `${origin}/v1/domains/${domain.id}/volumes/${volume.id}`;

    // The baseline: the same query and the same JSON, as the owner (RLS does not apply), no credential.
    const ownerPool = new pg.Pool({ connectionString: url.toString(), max: 10 });
    ownerPool.on('error', () => {});
    const owner = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
    cleanup.push(() => owner.destroy());
    const bare = Fastify();
    cleanup.unshift(() => bare.close());
    bare.get<{ Params: { domainId: string; volumeId: string } }>(
      '/v1/domains/:domainId/volumes/:volumeId',
      async (request, reply) => {
        const row = await owner
          .selectFrom('volumes')
          .selectAll()
          .where('domain_id', '=', request.params.domainId)
          .where('id', '=', request.params.volumeId)
          .executeTakeFirst();
        if (row === undefined) return reply.code(404).send({ title: 'Not found' });
        return volumeView(row);
      },
    );
    const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}/v1/domains/${domain.id}/volumes/${volume.id}`;

    // Both answer the same body before anything is timed.
    const bodies = await Promise.all([
      fetch(bulkheadUrl, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.json()),
      fetch(bareUrl).then((r) => r.json()),
    ]);
    if (!isDeepStrictEqual(bodies[0], bodies[1])) throw new Error('the baseline answers a different body');

    const runs = {
      baseline: { label: 'baseline: bare route, owner, no auth, no RLS', figures: [] as Figures[] },
      token: { label: 'Bulkhead, access token (Ed25519, session check)', figures: [] as Figures[] },
      cookie: { label: 'Bulkhead, session cookie (idle clock)', figures: [] as Figures[] },
      key: { label: 'Bulkhead, provisioning key (audited per use)', figures: [] as Figures[] },
    };
    const kinds = Object.keys(runs) as (keyof typeof runs)[];
    const once = async (which: keyof typeof runs, duration: number) => {
      if (which === 'baseline') return load(monitor, bareUrl, {}, duration);
      if (which === 'token')
        return load(monitor, bulkheadUrl, { authorization: `Bearer ${await accessToken()}` }, duration);
      if (which === 'cookie') return load(monitor, bulkheadUrl, { cookie: await sessionCookie() }, duration);
      return load(monitor, bulkheadUrl, { authorization: `Bearer ${key}` }, duration);
    };
    console.log(
      `GET /v1/domains/{id}/volumes/{volumeId}: autocannon, ${connections} connections, ${rounds} rounds of ${seconds} s each\n` +
        '(after 2 s of warm-up), interleaved; medians, and CPU µs per request in this process + in PostgreSQL:',
    );
    for (const which of kinds) await once(which, 2);
    for (let r = 0; r < rounds; r++) {
      for (const which of kinds) {
        runs[which].figures.push(await once(which, seconds));
      }
    }
    const summary = (which: keyof typeof runs) => {
      const f = runs[which].figures;
      return {
        rps: median(f.map((x) => x.rps)),
        p50: median(f.map((x) => x.p50)),
        p99: median(f.map((x) => x.p99)),
        cpu: median(f.map((x) => x.cpu)),
        dbCpu: f.every((x) => x.dbCpu !== null) ? median(f.map((x) => x.dbCpu!)) : null,
      };
    };
    const base = summary('baseline');
    for (const which of kinds) {
      const s = summary(which);
      const each = runs[which].figures.map((x) => x.rps.toFixed(0)).join(' / ');
      console.log(
        `  ${runs[which].label.padEnd(50)} ${s.rps.toFixed(0).padStart(6)} req/s  ${(s.rps / base.rps).toFixed(2)}` +
          `   p50 ${String(s.p50).padStart(3)} ms  p99 ${String(s.p99).padStart(3)} ms` +
          `   cpu ${s.cpu.toFixed(0).padStart(4)} + ${s.dbCpu === null ? '   ?' : s.dbCpu.toFixed(0).padStart(4)}   (${each})`,
      );
    }
    // The target is the authenticated read a service or a person makes, with an access token. A key's
    // request also writes the audit event of its use, which is the point of a provisioning key; its
    // figure is printed beside it, with no target.
    const tokenRatio = summary('token').rps / base.rps;
    console.log(
      `  token  / baseline: ${tokenRatio.toFixed(2)} (target ≥ ${target}: ${tokenRatio >= target ? 'met' : 'NOT met'})`,
    );
    console.log(`  cookie / baseline: ${(summary('cookie').rps / base.rps).toFixed(2)} (no target)`);
    console.log(
      `  key    / baseline: ${(summary('key').rps / base.rps).toFixed(2)} (every use audited; no target)`,
    );
    console.log(
      '  Per request, the token path (its token verified once and then remembered) reads the volume in one\n' +
        '  round trip, a statement prepared on the connection, scoped in the same message; the baseline sends\n' +
        '  one unprepared statement. The key path also reads the key, then records its use in one message (a\n' +
        '  hash-chained audit event under the lock of the head of its domain chain, and a check that the key is still\n' +
        '  live): it writes and flushes the log on every request, and key requests queue on that lock. That is\n' +
        '  intended: every use of a key is audited. The cookie path finds its session in one read of the system context (one round trip)\n' +
        '  and restarts its idle clock, in a transaction, at most once in a tenth of the idle period.',
    );
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    await database.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  }
}

await main();
