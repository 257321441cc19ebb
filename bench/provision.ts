// Provisioning speed, measured against the raw backend calls in the same run.
//
//   npm run bench:provision            (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL and
//                                       Redis at BULKHEAD_TEST_REDIS_URL, RabbitMQ's management API at
//                                       BULKHEAD_TEST_RABBITMQ_URL)
//
// Prints, for postgres (database and schema mode), redis, storage and rabbitmq: the median and p95 time from request to
// `ready` through the HTTP API, the same figures for the provider's own calls made directly, and their
// ratio; then the time to provision a whole domain (domain, key, storage resource) at the 10th, 200th and
// 1,000th domain in a row. Everything it creates is removed at the end.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { buildServer } from '../src/http/server.js';
import { newId } from '../src/domain/ids.js';
import type { ResourceKind } from '../src/domain/kinds.js';
import { createPostgresProvider } from '../src/providers/postgres/index.js';
import type { DataKeySource, Provider } from '../src/providers/provider.js';
import { createRedisProvider } from '../src/providers/redis/index.js';
import { createRabbitmqProvider } from '../src/providers/rabbitmq/index.js';
import { createStorageProvider } from '../src/providers/storage/index.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const rabbitmqUrl = process.env['BULKHEAD_TEST_RABBITMQ_URL'] ?? 'http://guest:guest@127.0.0.1:15672';
const samples = Number(process.env['BENCH_SAMPLES'] ?? 20);
const domainsInARow = Number(process.env['BENCH_DOMAINS'] ?? 1000);
const token = 'bench-operator-token-0123456789abcdefgh';

function stats(ms: number[]): { median: number; p95: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p95: at(0.95) };
}

const fmt = (n: number) => `${n.toFixed(1).padStart(7)} ms`;

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `bulkhead_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

interface Stack {
  call(method: string, url: string, auth: string, body?: object): Promise<{ id: string; key: string }>;
  newDomain(): Promise<{ id: string; key: string }>;
  provider(kind: ResourceKind): Provider;
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
  const store = await openStore({ kind: 'postgres', url: storeUrl });
  const services = buildServices(store, randomBytes(32), {
    providers,
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
    return res.json<{ id: string; key: string }>();
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
    async close() {
      // Remove everything this run created.
      for (const d of await services.domains.list({ limit: 100_000 })) {
        await services.domains.delete({ actor: 'bench', requestId: null }, d.id);
      }
      await services.provisioner.reconcile();
      await app.close();
      await services.close();
    },
  };
}

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
  console.log(
    `${label.padEnd(20)} ${fmt(a.median)} / ${fmt(a.p95)}   ${fmt(b.median)} / ${fmt(b.p95)}   ${(a.median / b.median).toFixed(2)}x`,
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-bench-'));
  console.log(
    `Provisioning, ${samples} samples each (request to ready through the HTTP API, and the provider alone):`,
  );
  console.log('kind                 bulkhead median / p95        direct median / p95      ratio (median)');
  await withDatabase(async (storeUrl) => {
    const s = await stack(storeUrl, join(dir, 'storage-a'), 'database');
    try {
      await compare('postgres (database)', s, 'postgres');
      await compare('storage', s, 'storage');
      await compare('redis', s, 'redis');
      await compare('rabbitmq', s, 'rabbitmq');
    } finally {
      await s.close();
    }
  });
  await withDatabase(async (storeUrl) => {
    const s = await stack(storeUrl, join(dir, 'storage-b'), 'schema');
    try {
      await compare('postgres (schema)', s, 'postgres');
      console.log(`\nA whole domain (domain, key, storage resource), ${domainsInARow} in a row:`);
      const perDomain: number[] = [];
      for (let i = 0; i < domainsInARow; i++) {
        const t = performance.now();
        const d = await s.newDomain();
        await s.call('POST', `/v1/domains/${d.id}/resources`, d.key, { kind: 'storage', name: 'files' });
        perDomain.push(performance.now() - t);
      }
      const around = (i: number) => stats(perDomain.slice(Math.max(0, i - 5), i + 5)).median;
      for (const m of [1, 10, 200, 1000].filter((x) => x <= domainsInARow)) {
        console.log(`  domain ${String(m).padStart(5)}: ${fmt(around(m - 1))} (median of the ten around it)`);
      }
      if (domainsInARow >= 1000) console.log(`  1000th / 10th: ${(around(999) / around(9)).toFixed(2)}x`);
    } finally {
      await s.close();
    }
  });
  rmSync(dir, { recursive: true, force: true });
}

await main();
