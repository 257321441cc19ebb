// The portal's dashboard for signed-in people against a static page of the same server, in the same run.
//
//   npm run bench:portal       (needs the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL)
//
// One domain with a portal host, 20 people each signed in with a session of their own, three resources'
// worth of rows read per dashboard (resources, members, the person's sessions). autocannon, in a process
// of its own, drives `GET /` at the portal host with 20 connections, each presenting its own session's
// cookie, and then the portal's stylesheet (a static answer through the same hooks: the host lookup and
// the security headers) as the baseline. It also prints each page's transfer size with the assets it
// names (stylesheet, script, logo), and fails (exit code 1) when one is 100 KB or more. The floor beside
// them: a bare Fastify route on the same store that answers after one transaction of the domain (one trip
// to PostgreSQL), the least a page for a signed-in person costs, since its session must be read.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { buildServer } from '../src/http/server.js';
import { portalCookie } from '../src/identity/sessions.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);
const sessions = 20;
const host = 'portal.bench.test';
const actor = { actor: 'bench', requestId: null };
/** The pages whose transfer size is measured (the sign-in page without a session, the others with one). */
const pages = ['/sign-in', '/', '/resources', '/members', '/sessions', '/audit', '/usage', '/invoices'];
/** The bound on a page with its assets, uncached. */
const limitKB = 100;
/** A 1×1 PNG: the logo every page then names. */
const logo = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const run = promisify(execFile);
const autocannon = createRequire(import.meta.url).resolve('autocannon');

interface Figures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs autocannon in a child process; each connection presents one of `cookies` (its own). */
async function load(url: string, cookies: readonly string[], duration: number): Promise<Figures> {
  const script = `
    const autocannon = require(${JSON.stringify(autocannon)});
    const cookies = JSON.parse(process.env.COOKIES);
    let next = 0;
    autocannon({
      url: ${JSON.stringify(url)}, connections: ${sessions}, duration: ${duration},
      headers: { host: ${JSON.stringify(host)} },
      requests: [{ setupRequest: (req, context) => {
        if (context.cookie === undefined) context.cookie = cookies[next++ % cookies.length];
        return context.cookie === '' ? req : { ...req, headers: { ...req.headers, cookie: context.cookie } };
      } }],
    }, (error, result) => {
      if (error) { console.error(error); process.exit(1); }
      process.stdout.write(JSON.stringify(result));
    });`;
  const { stdout } = await run(process.execPath, ['-e', script], {
    env: { ...process.env, COOKIES: JSON.stringify(cookies.length === 0 ? [''] : cookies) },
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = JSON.parse(stdout) as {
    non2xx: number;
    errors: number;
    duration: number;
    '2xx': number;
    latency: { p50: number; p99: number };
  };
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return { rps: result['2xx'] / result.duration, p50: result.latency.p50, p99: result.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const store = await openStore({ kind: 'postgres', url: database.url });
    const services: Services = buildServices(store, randomBytes(32), { providers: new Map() });
    cleanup.push(() => services.close());
    const domain = await services.domains.create(actor, { slug: 'bench-portal', name: 'Bench' });
    await services.portal.set(actor, domain.id, { hosts: [host], branding: { displayName: 'Bench Portal' } });
    await services.portal.setLogo(actor, domain.id, logo);
    const cookies: string[] = [];
    for (let i = 0; i < sessions; i++) {
      const user = await services.principals.create(actor, domain.id, {
        kind: 'user',
        email: `person${i}@bench.example`,
        password: 'correct horse battery staple',
        // The first is the domain's admin, so that every page (the audit trail is an admin's) is measured.
        ...(i === 0 ? { role: 'admin' as const } : {}),
      });
      const row = await store.withDomain(domain.id, (tx) =>
        tx.selectFrom('principals').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow(),
      );
      cookies.push(`${portalCookie}=${(await services.sessions.login(actor, row, host)).cookie}`);
    }
    const app = await buildServer(services);
    cleanup.unshift(() => app.close());
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });

    // Each page's transfer size with the assets it names (stylesheet, script, logo), uncompressed and
    // uncached: every asset is fetched again for every page, as a browser with an empty cache would.
    // fetch sends its own Host header: node:http sends the portal host.
    const get = (path: string, cookie: string | null) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const headers = cookie === null ? { host } : { host, cookie };
        const req = request(`${origin}${path}`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end();
      });
    const sizes: { path: string; page: number; assets: number; names: string[] }[] = [];
    for (const [path, cookie] of pages.map((p) => [p, p === '/sign-in' ? null : cookies[0]!] as const)) {
      const page = await get(path, cookie);
      if (page.status !== 200) throw new Error(`${path}: ${page.status}`);
      const html = page.body.toString('utf8');
      const names = [...html.matchAll(/<(?:link|script|img)\b[^>]*?\s(?:href|src)="(\/[^"]*)"/g)]
        .map((m) => m[1]!.replaceAll('&amp;', '&'))
        .filter((name) => name.startsWith('/portal-assets/'));
      let assets = 0;
      for (const name of names) {
        const asset = await get(name, cookie);
        if (asset.status !== 200) throw new Error(`${path}: asset ${name}: ${asset.status}`);
        assets += asset.body.length;
      }
      sizes.push({ path, page: page.body.length, assets, names });
    }

    const bare = Fastify();
    bare.get('/', async () => {
      await store.withDomain(domain.id, (tx) => sql`SELECT 1`.execute(tx));
      return 'ok';
    });
    cleanup.unshift(() => bare.close());
    const floorPage = `${await bare.listen({ host: '127.0.0.1', port: 0 })}/`;

    const dashboard = `${origin}/`;
    const staticPage = `${origin}/portal-assets/portal.css`;
    await load(dashboard, cookies, 2);
    await load(staticPage, [], 2);
    await load(floorPage, [], 2);
    const figures = { dashboard: [] as Figures[], baseline: [] as Figures[], floor: [] as Figures[] };
    for (let r = 0; r < rounds; r++) {
      figures.baseline.push(await load(staticPage, [], seconds));
      figures.dashboard.push(await load(dashboard, cookies, seconds));
      figures.floor.push(await load(floorPage, [], seconds));
    }
    const summary = (f: Figures[]) => ({
      rps: median(f.map((x) => x.rps)),
      p50: median(f.map((x) => x.p50)),
      p99: median(f.map((x) => x.p99)),
    });
    const base = summary(figures.baseline);
    const dash = summary(figures.dashboard);
    console.log(
      `portal at ${host}: autocannon, ${sessions} connections (one session each), ${rounds} rounds of ${seconds} s, medians`,
    );
    for (const [label, s] of [
      ['static page (portal.css, same server)', base],
      ['dashboard, signed in', dash],
      ['floor: bare route, one domain transaction', summary(figures.floor)],
    ] as const)
      console.log(
        `  ${label.padEnd(40)} ${s.rps.toFixed(0).padStart(6)} req/s  ${(s.rps / base.rps).toFixed(2)}` +
          `   p50 ${String(s.p50).padStart(3)} ms  p99 ${String(s.p99).padStart(3)} ms`,
      );
    console.log(
      `  transfer size of each page with its assets, uncompressed and uncached (limit ${limitKB} KB):`,
    );
    for (const size of sizes) {
      const total = size.page + size.assets;
      console.log(
        `    ${size.path.padEnd(12)} ${(total / 1024).toFixed(1).padStart(6)} KB  ` +
          `(page ${size.page} B, assets ${size.assets} B: ${size.names.join(' ')})` +
          (total < limitKB * 1024 ? '' : `  OVER ${limitKB} KB`),
      );
    }
    const over = sizes.filter((size) => size.page + size.assets >= limitKB * 1024);
    if (over.length > 0) {
      console.error(`over ${limitKB} KB: ${over.map((size) => size.path).join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    await database.drop();
  }
}

await main();
