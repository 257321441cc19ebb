// Provisioning speed, measured against the raw backend calls in the same run.
//
//   npm run bench:provision            (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL and
//                                       Redis at BULKHEAD_TEST_REDIS_URL, RabbitMQ's management API at
//                                       BULKHEAD_TEST_RABBITMQ_URL)
//   npm run bench:provision -- --only blueprint      (or BENCH_ONLY=blueprint; parts: kinds, domains,
//                                                     blueprint, comma-separated)
//
// Prints the load average, then for each part:
// - kinds: for postgres (database and schema mode), redis, storage and rabbitmq, the median and p95 time
//   from request to `ready` through the HTTP API, the same figures for the provider's own calls made
//   directly, and their ratio; and the floor any durable path would reach (the provider's median plus a
//   round trip and two commits on this server, measured first) with its ratio, the best one possible;
// - domains: the time to provision a whole domain (domain, key, storage resource) at the 10th, 200th and
//   1,000th domain in a row (BENCH_DOMAINS);
// - blueprint: a blueprint of postgres (database mode), redis, rabbitmq and storage through the HTTP API
//   (median, p95, p99 over BENCH_BLUEPRINT_SAMPLES, each in a new domain) against the same providers'
//   `create` calls made directly one after another (and the slowest of them alone), and where the
//   blueprint's time goes (before the first backend call, each backend call, after the last); then a new domain, key and blueprint for
//   BENCH_BLUEPRINT_DOMAINS domains in a row, with the blueprint's time, the part of it outside the
//   backend calls, its postgres and rabbitmq steps, and a direct rabbitmq `create` (and its vhost PUT)
//   at the 10th, 100th and 500th, every blueprint kept until the last so vhosts accumulate. Kubernetes
//   is left out: without a cluster its provider contacts nothing.
// Everything it creates is removed at the end of each part, and the backends are checked for leftovers.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { buildServer } from '../src/http/server.js';
import { newId } from '../src/domain/ids.js';
import type { ResourceKind } from '../src/domain/kinds.js';
import { createPostgresProvider } from '../src/providers/postgres/index.js';
import type { DataKeySource, Provider, ResourceRef } from '../src/providers/provider.js';
import { createRedisProvider } from '../src/providers/redis/index.js';
import { createRabbitmqProvider } from '../src/providers/rabbitmq/index.js';
import { createStorageProvider } from '../src/providers/storage/index.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const rabbitmqUrl = process.env['BULKHEAD_TEST_RABBITMQ_URL'] ?? 'http://guest:guest@127.0.0.1:15672';
const samples = Number(process.env['BENCH_SAMPLES'] ?? 20);
const domainsInARow = Number(process.env['BENCH_DOMAINS'] ?? 1000);
const blueprintSamples = Number(process.env['BENCH_BLUEPRINT_SAMPLES'] ?? 100);
const blueprintsInARow = Number(process.env['BENCH_BLUEPRINT_DOMAINS'] ?? 500);
const token = 'bench-operator-token-0123456789abcdefgh';

const parts = ['kinds', 'domains', 'blueprint'] as const;
type Part = (typeof parts)[number];

/** The parts named by `--only a,b` (or `--only=a,b`, or BENCH_ONLY); all of them by default. */
function selectedParts(): Set<Part> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--only');
  const raw =
    at >= 0
      ? args[at + 1]
      : (args.find((a) => a.startsWith('--only='))?.slice(7) ?? process.env['BENCH_ONLY']);
  if (raw === undefined || raw === '') return new Set(parts);
  const chosen = raw.split(',').map((p) => p.trim());
  const unknown = chosen.filter((p) => !(parts as readonly string[]).includes(p));
  if (unknown.length > 0) {
    console.error(`--only takes ${parts.join(', ')} (comma-separated), not "${unknown.join(',')}"`);
    process.exit(2);
  }
  return new Set(chosen as Part[]);
}

function stats(ms: number[]): { median: number; p95: number; p99: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const median = (ms: number[]) => stats(ms).median;

/** The median of the ten samples around the i-th (zero-based), kept inside the series. */
const around = (ms: number[], i: number) => {
  const from = Math.max(0, Math.min(i - 5, ms.length - 10));
  return median(ms.slice(from, from + 10));
};

const fmt = (n: number) => `${n.toFixed(1).padStart(7)} ms`;

const load = () => {
  const [one, five, fifteen] = loadavg().map((n) => n.toFixed(2));
  return `load average ${one} ${five} ${fifteen}`;
};

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const database = await scratchDatabase(adminUrl);
  try {
    return await fn(database.url);
  } finally {
    await database.drop();
  }
}

/** When one provider `create` made by the services ran (performance.now() times). */
interface Step {
  readonly kind: ResourceKind;
  readonly start: number;
  readonly end: number;
}

/** The provider, with every `create` it is asked for recorded into `steps`. */
function timed(provider: Provider, steps: Step[]): Provider {
  return new Proxy(provider, {
    get(target, prop) {
      if (prop === 'create') {
        return async (ref: ResourceRef) => {
          const start = performance.now();
          try {
            return await target.create(ref);
          } finally {
            steps.push({ kind: target.kind, start, end: performance.now() });
          }
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** One management API call of the rabbitmq provider, e.g. `PUT vhosts`. */
interface ApiCall {
  readonly what: string;
  readonly ms: number;
}

/** Records the rabbitmq provider's management API calls (it talks to the broker with the global fetch). */
function recordManagementCalls(): ApiCall[] {
  const calls: ApiCall[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const start = performance.now();
    const res = await original(input, init);
    const url = new URL(input instanceof Request ? input.url : input);
    calls.push({
      what: `${init?.method ?? 'GET'} ${url.pathname.split('/')[2]}`,
      ms: performance.now() - start,
    });
    return res;
  };
  return calls;
}

interface Stack {
  call<T = { id: string; key: string }>(method: string, url: string, auth: string, body?: object): Promise<T>;
  newDomain(): Promise<{ id: string; key: string }>;
  /** The provider itself, for direct calls (not recorded in `steps`). */
  provider(kind: ResourceKind): Provider;
  /** The provider `create` calls the services made, in order; clear it before a measurement. */
  readonly steps: Step[];
  close(): Promise<void>;
}

/** A Bulkhead (store, services, HTTP app) whose postgres provider runs in `mode`. */
async function stack(storeUrl: string, storageRoot: string, mode: 'database' | 'schema'): Promise<Stack> {
  const late: { keyring?: Services['keyring'] } = {};
  const dataKeys: DataKeySource = { dataKey: (id) => late.keyring!.dataKey(id) };
  const providers = new Map<ResourceKind, Provider>([
    ['postgres', await createPostgresProvider({ kind: 'server', adminUrl, mode })],
    ['storage', await createStorageProvider({ root: storageRoot, dataKeys })],
    ['redis', await createRedisProvider({ adminUrl: redisUrl, allowOpenDefaultUser: true })],
    ['rabbitmq', await createRabbitmqProvider({ managementUrl: rabbitmqUrl })],
  ]);
  const steps: Step[] = [];
  const store = await openStore({ kind: 'postgres', url: storeUrl });
  const services = buildServices(store, randomBytes(32), {
    providers: new Map([...providers].map(([kind, p]) => [kind, timed(p, steps)])),
    quotas: { resourcesPerKind: 100_000, storageBytes: 1024 ** 3 },
    slugQuarantineMs: 0,
  });
  late.keyring = services.keyring;
  await services.operator.initialise(token);
  const app = await buildServer(services);
  const call: Stack['call'] = async (method, url, auth, body) => {
    const res = await app.inject({
      method: method as 'POST',
      url,
      headers: { authorization: `Bearer ${auth}` },
      ...(body === undefined ? {} : { payload: body }),
    });
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  let seq = 0;
  return {
    call,
    async newDomain() {
      const d = await call('POST', '/v1/domains', token, {
        slug: `bench-${process.pid}-${++seq}`,
        name: 'bench',
      });
      const k = await call('POST', `/v1/domains/${d.id}/keys`, token, {});
      return { id: d.id, key: k.key };
    },
    provider: (kind) => providers.get(kind)!,
    steps,
    async close() {
      // Remove everything this run created, then check that the backends hold nothing of it.
      const t = performance.now();
      const domains = await services.domains.list({ limit: 100_000 });
      for (const d of domains) {
        await services.domains.delete({ actor: 'bench', requestId: null }, d.id);
      }
      // A pass takes up to 500 resources; stop when one finds nothing left to do.
      for (;;) {
        const r = await services.provisioner.reconcile();
        if (r.deleted + r.finished + r.undone === 0) break;
      }
      const ours = new Set(domains.map((d) => d.id));
      const left: string[] = [];
      for (const [kind, provider] of providers) {
        for (const o of await provider.listOwned()) {
          if (ours.has(o.ref.domainId)) left.push(`${kind} ${o.name}`);
        }
      }
      console.log(
        `  removed ${domains.length} domains in ${((performance.now() - t) / 1000).toFixed(1)} s; ` +
          (left.length === 0
            ? 'nothing of theirs is left on the backends'
            : `LEFT BEHIND: ${left.join(', ')}`),
      );
      if (left.length > 0) process.exitCode = 1;
      await app.close();
      await services.close();
    },
  };
}

async function withStack(
  storageRoot: string,
  mode: 'database' | 'schema',
  fn: (s: Stack) => Promise<void>,
): Promise<void> {
  await withDatabase(async (storeUrl) => {
    const s = await stack(storeUrl, storageRoot, mode);
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  });
}

/**
 * What any provisioning path that keeps the guarantees must spend on the store, measured on this
 * server: the reservation must be durable before the backend is called (so a crash can be finished or
 * undone) and `ready` durable before the answer, and the key read first. So at least one round trip and
 * two commits: here, a `SELECT 1` and an autocommitted one-row `INSERT`, each the median of 300.
 */
interface Floor {
  readonly roundTrip: number;
  readonly commit: number;
}

async function durableFloor(url: string): Promise<Floor> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE bench_floor (id serial PRIMARY KEY, at timestamptz NOT NULL)');
    const time = async (text: string) => {
      const ms: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t = performance.now();
        await client.query(text);
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    const roundTrip = await time('SELECT 1');
    const commit = await time('INSERT INTO bench_floor (at) VALUES (now())');
    await client.query('DROP TABLE bench_floor');
    return { roundTrip, commit };
  } finally {
    await client.end();
  }
}

let floor: Floor | null = null;

async function compare(label: string, s: Stack, kind: ResourceKind): Promise<void> {
  const domain = await s.newDomain();
  const viaApi: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t = performance.now();
    await s.call('POST', `/v1/domains/${domain.id}/resources`, domain.key, { kind, name: `r${i}` });
    viaApi.push(performance.now() - t);
    const ref = { domainId: domain.id, resourceId: newId('resource') };
    t = performance.now();
    await s.provider(kind).create(ref);
    direct.push(performance.now() - t);
    await s.provider(kind).delete(ref);
  }
  const a = stats(viaApi);
  const b = stats(direct);
  const least = floor === null ? null : b.median + floor.roundTrip + 2 * floor.commit;
  console.log(
    `${label.padEnd(20)} ${fmt(a.median)} / ${fmt(a.p95)}   ${fmt(b.median)} / ${fmt(b.p95)}   ${(a.median / b.median).toFixed(2)}x` +
      (least === null ? '' : `   ${fmt(least)}  ${(least / b.median).toFixed(2)}x`),
  );
}

const blueprintKinds: readonly ResourceKind[] = ['postgres', 'redis', 'rabbitmq', 'storage'];
const blueprintBody = { name: 'stack', resources: blueprintKinds.map((kind) => ({ kind, name: 'main' })) };

/** Provisions the blueprint for a domain through the API; its time and the backend calls it made. */
async function provisionBlueprint(
  s: Stack,
  domain: { id: string; key: string },
): Promise<{ ms: number; start: number; end: number; steps: Step[] }> {
  s.steps.length = 0;
  const start = performance.now();
  const b = await s.call<{ status: string }>(
    'POST',
    `/v1/domains/${domain.id}/blueprints`,
    domain.key,
    blueprintBody,
  );
  const end = performance.now();
  if (b.status !== 'ready') throw new Error(`blueprint ended ${b.status}`);
  return { ms: end - start, start, end, steps: [...s.steps] };
}

const stepOf = (steps: Step[], kind: ResourceKind) => {
  const step = steps.find((x) => x.kind === kind);
  if (step === undefined) throw new Error(`the blueprint made no ${kind} call`);
  return step.end - step.start;
};

async function blueprintLine(s: Stack): Promise<void> {
  console.log(
    `\nA blueprint (${blueprintKinds.join(' + ')}), ${blueprintSamples} samples, each in a new domain; ` +
      'kubernetes left out (no cluster here: its provider would contact nothing):',
  );
  const viaApi: number[] = [];
  const direct: number[] = [];
  const slowest: number[] = [];
  const before: number[] = [];
  const backends: number[] = [];
  const after: number[] = [];
  const perKind = new Map(blueprintKinds.map((k) => [k, [] as number[]]));
  const perKindDirect = new Map(blueprintKinds.map((k) => [k, [] as number[]]));
  for (let i = 0; i < blueprintSamples; i++) {
    const domain = await s.newDomain();
    const b = await provisionBlueprint(s, domain);
    viaApi.push(b.ms);
    const first = Math.min(...b.steps.map((x) => x.start));
    const last = Math.max(...b.steps.map((x) => x.end));
    before.push(first - b.start);
    backends.push(last - first);
    after.push(b.end - last);
    for (const kind of blueprintKinds) perKind.get(kind)!.push(stepOf(b.steps, kind));
    // The same providers' calls, directly and one after another; removed at once.
    const refs = blueprintKinds.map((kind) => ({
      kind,
      ref: { domainId: domain.id, resourceId: newId('resource') },
    }));
    const t = performance.now();
    let longest = 0;
    for (const { kind, ref } of refs) {
      const u = performance.now();
      await s.provider(kind).create(ref);
      const ms = performance.now() - u;
      perKindDirect.get(kind)!.push(ms);
      longest = Math.max(longest, ms);
    }
    direct.push(performance.now() - t);
    slowest.push(longest);
    for (const { kind, ref } of refs) await s.provider(kind).delete(ref);
  }
  const a = stats(viaApi);
  // Each baseline is followed by the API's time divided by it.
  const row = (label: string, x: ReturnType<typeof stats>) =>
    `${label.padEnd(36)} ${fmt(x.median)} / ${fmt(x.p95)} / ${fmt(x.p99)}` +
    (x === a
      ? ''
      : `   ${(a.median / x.median).toFixed(2)}x / ${(a.p95 / x.p95).toFixed(2)}x / ${(a.p99 / x.p99).toFixed(2)}x`);
  console.log(
    '                                     median        p95           p99          API ÷ this (median / p95 / p99)',
  );
  console.log(row('blueprint through the API', a));
  console.log(row('the four creates, directly in a row', stats(direct)));
  console.log(row('the slowest of the four, directly', stats(slowest)));
  console.log('Where the blueprint’s time goes (medians; the four creates run side by side):');
  console.log(`  request to the first backend call  ${fmt(median(before))}`);
  console.log(`  first backend call to the last end ${fmt(median(backends))}`);
  for (const kind of blueprintKinds) {
    console.log(
      `    ${kind.padEnd(30)} ${fmt(median(perKind.get(kind)!))}   (alone: ${fmt(median(perKindDirect.get(kind)!))})`,
    );
  }
  console.log(`  last backend call to the answer    ${fmt(median(after))}`);
  console.log(`  (${load()})`);
}

async function blueprintsInARowPart(s: Stack, calls: ApiCall[]): Promise<void> {
  console.log(
    `\nA new domain, key and blueprint, ${blueprintsInARow} in a row (every one kept until the last), with a ` +
      'direct rabbitmq create (removed at once) after each:',
  );
  const whole: number[] = [];
  const blueprint: number[] = [];
  const own: number[] = [];
  const pgStep: number[] = [];
  const mqStep: number[] = [];
  const mqAlone: number[] = [];
  const mqVhostPut: number[] = [];
  const started = performance.now();
  for (let i = 0; i < blueprintsInARow; i++) {
    const t = performance.now();
    const domain = await s.newDomain();
    const b = await provisionBlueprint(s, domain);
    whole.push(performance.now() - t);
    blueprint.push(b.ms);
    own.push(b.ms - (Math.max(...b.steps.map((x) => x.end)) - Math.min(...b.steps.map((x) => x.start))));
    pgStep.push(stepOf(b.steps, 'postgres'));
    mqStep.push(stepOf(b.steps, 'rabbitmq'));
    const ref = { domainId: domain.id, resourceId: newId('resource') };
    calls.length = 0;
    const u = performance.now();
    await s.provider('rabbitmq').create(ref);
    mqAlone.push(performance.now() - u);
    mqVhostPut.push(calls.find((c) => c.what === 'PUT vhosts')?.ms ?? Number.NaN);
    await s.provider('rabbitmq').delete(ref);
  }
  const total = (performance.now() - started) / 1000;
  const points = [10, 100, 500].filter((m) => m <= blueprintsInARow);
  if (blueprintsInARow > 10 && !points.includes(blueprintsInARow)) points.push(blueprintsInARow);
  const columns: [string, number[]][] = [
    ['domain+key+blueprint', whole],
    ['blueprint', blueprint],
    ['outside the backend calls', own],
    ['its postgres step', pgStep],
    ['its rabbitmq step', mqStep],
    ['rabbitmq alone', mqAlone],
    ['its PUT vhost', mqVhostPut],
  ];
  const line = (label: string, cell: (title: string, ms: number[]) => string) =>
    label.padStart(8) + columns.map(([title, ms]) => cell(title, ms).padStart(title.length + 3)).join('');
  console.log(line('domain', (title) => title));
  for (const m of points) console.log(line(String(m), (_, ms) => fmt(around(ms, m - 1))));
  const last = points.at(-1)!;
  if (last > 10) {
    console.log(line(`${last}/10`, (_, ms) => `${(around(ms, last - 1) / around(ms, 9)).toFixed(2)}x`));
  }
  console.log(
    `  (medians of the ten around each; all ${blueprintsInARow} took ${total.toFixed(0)} s; ` +
      `blueprint p99 ${fmt(stats(blueprint).p99).trim()}; ${load()})`,
  );
}

async function main(): Promise<void> {
  const run = selectedParts();
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-bench-'));
  console.log(`Provisioning benchmark (${[...run].join(', ')}); ${load()}`);
  if (run.has('kinds')) {
    console.log(
      `\nProvisioning, ${samples} samples each (request to ready through the HTTP API, and the provider alone):`,
    );
    await withDatabase(async (url) => {
      floor = await durableFloor(url);
    });
    console.log(
      `The least a durable path adds on this server: a round trip (${floor!.roundTrip.toFixed(2)} ms) and two ` +
        `commits (${floor!.commit.toFixed(2)} ms each); "floor" is the provider's median plus that.`,
    );
    console.log(
      'kind                 bulkhead median / p95        direct median / p95      ratio (median)   floor      floor ratio',
    );
    await withStack(join(dir, 'storage-a'), 'database', async (s) => {
      await compare('postgres (database)', s, 'postgres');
      await compare('storage', s, 'storage');
      await compare('redis', s, 'redis');
      await compare('rabbitmq', s, 'rabbitmq');
    });
  }
  if (run.has('kinds') || run.has('domains')) {
    await withStack(join(dir, 'storage-b'), 'schema', async (s) => {
      if (run.has('kinds')) await compare('postgres (schema)', s, 'postgres');
      if (!run.has('domains')) return;
      console.log(`\nA whole domain (domain, key, storage resource), ${domainsInARow} in a row:`);
      const perDomain: number[] = [];
      for (let i = 0; i < domainsInARow; i++) {
        const t = performance.now();
        const d = await s.newDomain();
        await s.call('POST', `/v1/domains/${d.id}/resources`, d.key, { kind: 'storage', name: 'files' });
        perDomain.push(performance.now() - t);
      }
      for (const m of [1, 10, 200, 1000].filter((x) => x <= domainsInARow)) {
        console.log(
          `  domain ${String(m).padStart(5)}: ${fmt(around(perDomain, m - 1))} (median of the ten around it)`,
        );
      }
      if (domainsInARow >= 1000)
        console.log(`  1000th / 10th: ${(around(perDomain, 999) / around(perDomain, 9)).toFixed(2)}x`);
    });
  }
  if (run.has('blueprint')) {
    const calls = recordManagementCalls();
    await withStack(join(dir, 'storage-c'), 'database', blueprintLine);
    await withStack(join(dir, 'storage-d'), 'database', (s) => blueprintsInARowPart(s, calls));
  }
  console.log(`\n${load()}`);
  rmSync(dir, { recursive: true, force: true });
}

await main();
