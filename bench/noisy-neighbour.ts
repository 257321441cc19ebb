// How much one domain's flood slows another's reads, with and without fair sharing, in the same run.
//
//   npm run bench:noisy      (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//   BENCH_CREDENTIAL=token npm run bench:noisy
//
// Two domains on one server over a fresh PostgreSQL database, each with a volume and a credential: by
// default a provisioning key (the heaviest path: every use of a key is audited, on its domain's own
// chain, see docs/security.md), with BENCH_CREDENTIAL=token a user's access token (verified without a
// write). B reads its volume from a process of its own with a few connections and records every
// latency; A floods the same read of its own volume with autocannon from another process (at niceness
// BENCH_FLOOD_NICE, default 19: below the server and B, as a generator elsewhere would be). Three phases of
// BENCH_SECONDS each, after a warm-up: B alone (quiet), B under A's flood with A's share turned off (the
// pool override 0 = no limit), and B under the same flood with the default share; then the floor, the
// same flood at /healthz. It prints B's p50 and p99 in each phase and the ratio of the flooded p99 to the
// quiet one (target: at most 2× with the share on), A's answers by status, and the server's CPU time per
// phase.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Result } from 'autocannon';
import { buildServer } from '../src/http/server.js';
import { buildServices, type Services } from '../src/runtime.js';
import { defaultTenantLimits } from '../src/services/tenant-limits.js';
import { openStore } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
/** A's connections: a client that sends its next request the moment an answer arrives. */
const floodConnections = Number(process.env['BENCH_FLOOD_CONNECTIONS'] ?? 50);
/**
 * The niceness of A's generator (`nice -n`): on a machine whose cores the generator shares with the server,
 * 19 lets the server and B's client run first, standing in for a generator on a machine of its own; 0 runs
 * it as an equal. The same for the floor as for the figures.
 */
const floodNice = Number(process.env['BENCH_FLOOD_NICE'] ?? 19);
/** B's connections and its steady rate: an ordinary client, well within its share. */
const quietConnections = Number(process.env['BENCH_QUIET_CONNECTIONS'] ?? 2);
const quietRate = Number(process.env['BENCH_QUIET_RATE'] ?? 100);
/** A's share in the last phase: the defaults unless BENCH_SHARE_RPS / _BURST / _CONCURRENCY say otherwise. */
const share = {
  requestsPerSecond: Number(process.env['BENCH_SHARE_RPS'] ?? defaultTenantLimits.requestsPerSecond),
  requestBurst: Number(process.env['BENCH_SHARE_BURST'] ?? defaultTenantLimits.requestBurst),
  concurrentRequests: Number(
    process.env['BENCH_SHARE_CONCURRENCY'] ?? defaultTenantLimits.concurrentRequests,
  ),
};
/** What both domains authenticate with: `key` (a provisioning key, the default) or `token` (an access token). */
const credential = process.env['BENCH_CREDENTIAL'] ?? 'key';
if (credential !== 'key' && credential !== 'token') {
  console.error(`BENCH_CREDENTIAL must be key or token, not ${credential}`);
  process.exit(2);
}
const operatorToken = 'bench-operator-token-0123456789abcdefgh';
const actor = { actor: 'bench', requestId: null };
const target = 2;
const run = promisify(execFile);
const autocannonCli = createRequire(import.meta.url).resolve('autocannon');

// B's client, in a process of its own: `connections` loops of keep-alive requests for `ms`, paced to
// `rate` requests per second in all, every latency in microseconds, and the statuses seen.
const quietClient = `
const [url, auth, connections, rate, ms] = process.argv.slice(1);
const { Agent, request } = await import('node:http');
const agent = new Agent({ keepAlive: true, maxSockets: Number(connections) });
const latencies = []; const statuses = {};
const end = performance.now() + Number(ms);
const once = () => new Promise((resolve, reject) => {
  const start = performance.now();
  const req = request(url, { agent, headers: { authorization: auth } }, (res) => {
    res.resume();
    res.on('end', () => { latencies.push(Math.round((performance.now() - start) * 1000)); statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1; resolve(); });
  });
  req.on('error', reject);
  req.end();
});
const every = (Number(connections) * 1000) / Number(rate);
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
await Promise.all(Array.from({ length: Number(connections) }, async (_, i) => {
  await wait((i * every) / Number(connections));
  let next = performance.now();
  while (performance.now() < end) {
    await once();
    next += every;
    const rest = next - performance.now();
    if (rest > 0) await wait(rest); else next = performance.now();
  }
}));
agent.destroy();
process.stdout.write(JSON.stringify({ latencies, statuses }));
`;

interface Quiet {
  readonly p50: number;
  readonly p99: number;
  readonly count: number;
  readonly statuses: Record<string, number>;
}

async function quiet(url: string, key: string, ms: number): Promise<Quiet> {
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      quietClient,
      url,
      `Bearer ${key}`,
      String(quietConnections),
      String(quietRate),
      String(ms),
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const { latencies, statuses } = JSON.parse(stdout) as {
    latencies: number[];
    statuses: Record<string, number>;
  };
  const sorted = latencies.sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000;
  return { p50: at(0.5), p99: at(0.99), count: sorted.length, statuses };
}

async function flood(url: string, key: string, duration: number): Promise<Result> {
  const args = [
    autocannonCli,
    '--json',
    '--no-progress',
    '-c',
    String(floodConnections),
    '-d',
    String(duration),
  ];
  const command = [process.execPath, ...args, '-H', `authorization:Bearer ${key}`, url];
  const { stdout } = await run(
    floodNice === 0 ? command[0]! : 'nice',
    floodNice === 0 ? command.slice(1) : ['-n', String(floodNice), ...command],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as Result;
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-bench-volumes-'));
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const store = await openStore({ kind: 'postgres', url: database.url });
    const services: Services = buildServices(store, randomBytes(32), {
      providers: new Map(),
      volumeRoot,
      slugQuarantineMs: 0,
    });
    cleanup.push(() => services.close());
    await services.operator.initialise(operatorToken);
    const tenant = async (slug: string) => {
      const domain = await services.domains.create(actor, { slug, name: slug });
      const volume = await services.compute.createVolume(actor, domain.id, {
        name: 'data',
        sizeBytes: 1 << 20,
      });
      if (credential === 'key') {
        const key = (await services.keys.issue(actor, domain.id)).key;
        return { id: domain.id, volume: volume.id, credential: () => Promise.resolve(key) };
      }
      const user = await services.principals.create(actor, domain.id, {
        kind: 'user',
        email: `${slug}@example.com`,
        password: 'correct horse battery staple',
      });
      const row = await store.withDomain(domain.id, (tx) =>
        tx.selectFrom('principals').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow(),
      );
      // Access tokens live five minutes at most: each phase gets a fresh one.
      const token = async () => (await services.tokens.issue(actor, row, 'bench')).access_token;
      return { id: domain.id, volume: volume.id, credential: token };
    };
    const a = await tenant('bench-noisy-a');
    const b = await tenant('bench-quiet-b');
    const app = await buildServer(services);
    cleanup.unshift(() => app.close());
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const urlOf = (t: { id: string; volume: string }) => `${base}/v1/domains/${t.id}/volumes/${t.volume}`;
    const setShare = async (limits: Record<string, number>) => {
      const res = await fetch(`${base}/v1/domains/${a.id}/pool`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ limits }),
      });
      if (!res.ok) throw new Error(`PUT pool: ${res.status} ${await res.text()}`);
    };
    const ms = seconds * 1000;

    // B's own share must not be what limits B: its client stays well under the defaults.
    await quiet(urlOf(b), await b.credential(), 2000);
    const phases: { label: string; b: Quiet; a: Result | null; cpuMs: number }[] = [];
    const phase = async (label: string, withFlood: boolean, floodUrl = urlOf(a)) => {
      const [aCredential, bCredential] = [await a.credential(), await b.credential()];
      const before = process.cpuUsage();
      const [bFigures, aResult] = await Promise.all([
        quiet(urlOf(b), bCredential, ms),
        withFlood ? flood(floodUrl, aCredential, seconds) : Promise.resolve(null),
      ]);
      const cpu = process.cpuUsage(before);
      const bad = Object.keys(bFigures.statuses).filter((s) => s !== '200');
      if (bad.length > 0)
        throw new Error(`${label}: B got answers other than 200: ${JSON.stringify(bFigures.statuses)}`);
      phases.push({ label, b: bFigures, a: aResult, cpuMs: (cpu.user + cpu.system) / 1000 });
    };
    await phase('B alone', false);
    await setShare({ requestsPerSecond: 0, concurrentRequests: 0 });
    await phase("A floods, A's share off", true);
    await setShare(share);
    await phase("A floods, A's share on", true);
    // The floor of any limiter inside the server: the same flood at a route answered with no work at all
    // (no credential, no store), so B's reads share the event loop and the cores with the flood alone.
    await phase('A floods /healthz (floor)', true, `${base}/healthz`);

    console.log(
      `GET /v1/domains/{id}/volumes/{volumeId} with each domain's ${credential === 'key' ? 'provisioning key' : 'access token'}, ${seconds} s per phase; B: ${quietConnections} ` +
        `connections, ${quietRate} req/s; A: autocannon, ${floodConnections} connections, nice ${floodNice}.\nA's share: ${share.requestsPerSecond} req/s, ` +
        `burst ${share.requestBurst}, ${share.concurrentRequests} in flight.`,
    );
    const quietP99 = phases[0]!.b.p99;
    for (const p of phases) {
      const aLine =
        p.a === null
          ? ''
          : `   A: ${JSON.stringify(p.a.statusCodeStats)} ${p.a['2xx']} answered, ${p.a.non2xx} refused (429), ${(p.a.requests.total / p.a.duration).toFixed(0)} req/s sent`;
      console.log(
        `  ${p.label.padEnd(36)} B p50 ${p.b.p50.toFixed(2).padStart(6)} ms  p99 ${p.b.p99.toFixed(2).padStart(6)} ms` +
          `  (${(p.b.p99 / quietP99).toFixed(2)}× quiet p99)  B ${p.b.count} reads   server cpu ${(p.cpuMs / 1000).toFixed(1)} s${aLine}`,
      );
    }
    const ratio = phases[2]!.b.p99 / quietP99;
    const floor = phases[3]!.b.p99 / quietP99;
    console.log(
      `  B's p99 under A's flood with the share on / quiet: ${ratio.toFixed(2)} (target ≤ ${target}: ${ratio <= target ? 'met' : 'NOT met'});` +
        ` floor on this machine (the flood answered with no work): ${floor.toFixed(2)}`,
    );
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    await database.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  }
}

await main();
