// A domain's OpenID Provider under load, each figure beside its baseline in the same run.
//
//   npm run bench:oidc            (needs PostgreSQL at BULKHEAD_TEST_POSTGRES_URL)
//
// 1. client-credentials grants per second at `<issuer>/token` (HTTP, BENCH_CONCURRENCY requests in flight,
//    default 8) against raw node:crypto Ed25519 signing of the same token in the same process;
// 2. a full authorization code exchange with an existing session at the issuer (GET /authorize answered
//    with a code at once, then POST /token with PKCE for a public client), p50 and p99 over BENCH_FLOWS
//    sequential flows (default 300).
// Each figure is printed beside the floor this machine puts under it in the same run: a bare Fastify route
// fetched the same way (no HTTP grant can be faster), and for the exchange its two HTTP requests to that
// route plus its sequential database round trips (`SELECT 1`), which no change of Bulkhead's code removes.
import { createServer } from 'node:net';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import pg from 'pg';
import { buildServer } from '../src/http/server.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const adminUrl = process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const grants = Number(process.env['BENCH_GRANTS'] ?? 400);
const flows = Number(process.env['BENCH_FLOWS'] ?? 300);
const operatorToken = 'bench-operator-token-0123456789abcdefgh';
const actor = { actor: 'bench', requestId: null };
const password = 'correct horse battery staple';

/** The database round trips a code exchange makes one after another (authorize 5, token 6). */
const exchangeRoundTrips = 11;

const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Raw Ed25519 signatures per second of a token shaped like the grant's. */
function rawSigning(n: number): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' })}.${b64({
      iss: 'https://id.example/d/bench',
      sub: 'prn_00000000000000000000000000',
      aud: 'bulkhead:dom_00000000000000000000000000',
      dom: 'dom_00000000000000000000000000',
      sid: 'ses_00000000000000000000000000',
      client_id: 'bench',
      jti: randomUUID(),
      iat: now,
      exp: now + 300,
    })}`;
    sign(null, Buffer.from(input), privateKey).toString('base64url');
  }
  return (n / (performance.now() - start)) * 1000;
}

async function main(): Promise<void> {
  const database = await scratchDatabase(adminUrl);
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const store = await openStore({ kind: 'postgres', url: database.url });
    const services: Services = buildServices(store, randomBytes(32), {
      providers: new Map(),
      volumeRoot: mkdtempSync(join(tmpdir(), 'bulkhead-bench-oidc-')),
      slugQuarantineMs: 0,
      publicUrl: base,
    });
    cleanup.push(() => services.close());
    await services.operator.initialise(operatorToken);
    const domain = await services.domains.create(actor, { slug: 'bench-oidc', name: 'bench' });
    await services.principals.create(actor, domain.id, {
      kind: 'user',
      email: 'bench@example.com',
      password,
    });
    const service = (await services.principals.create(actor, domain.id, { kind: 'service' })) as unknown as {
      clientId: string;
      clientSecret: string;
    };
    const redirect = 'http://127.0.0.1:9/callback';
    const spa = await services.oauthClients.create(actor, domain.id, {
      name: 'spa',
      kind: 'public',
      redirectUris: [redirect],
      grantTypes: ['authorization_code'],
    });
    const app = await buildServer(services);
    cleanup.unshift(() => app.close());
    await app.listen({ host: '127.0.0.1', port });
    const pool = await fetch(`${base}/v1/domains/${domain.id}/pool`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limits: { requestsPerSecond: 0, concurrentRequests: 0 } }),
    });
    if (!pool.ok) throw new Error(`PUT pool: ${pool.status} ${await pool.text()}`);
    const issuer = `${base}/d/bench-oidc`;
    const bare = Fastify();
    bare.get('/noop', (_request, reply) => reply.send({ ok: true }));
    cleanup.unshift(() => bare.close());
    const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}/noop`;
    const noop = async () => void (await (await fetch(bareUrl)).arrayBuffer());
    const basic = `Basic ${Buffer.from(`${service.clientId}:${service.clientSecret}`).toString('base64')}`;
    const grant = async () => {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      if (res.status !== 200) throw new Error(`grant: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 20; i++) await grant();
    rawSigning(500);
    const raw = rawSigning(grants * 5);
    let left = grants;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await grant();
      }),
    );
    const perSecond = (grants / (performance.now() - start)) * 1000;
    console.log(`client-credentials grants/s (HTTP, ${concurrency} in flight): ${perSecond.toFixed(0)}`);
    console.log(`raw Ed25519 signing of the same token/s (baseline):          ${raw.toFixed(0)}`);
    console.log(`ratio: ${(perSecond / raw).toFixed(3)}×`);
    // The floor: a route that answers at once, fetched the same way, 8 in flight.
    for (let i = 0; i < 50; i++) await noop();
    let bareLeft = grants * 2;
    const bareStart = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (bareLeft-- > 0) await noop();
      }),
    );
    const bareRate = ((grants * 2) / (performance.now() - bareStart)) * 1000;
    console.log(
      `floor: a bare Fastify route answering at once (HTTP, ${concurrency} in flight): ${bareRate.toFixed(0)} requests/s = ${(bareRate / raw).toFixed(3)}× raw signing`,
    );

    // The session at the issuer: one sign-in through the page, then codes without it.
    const page = await fetch(
      `${issuer}/authorize?${new URLSearchParams({ client_id: spa.clientId, redirect_uri: redirect, response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString()}`,
    );
    const jar = page.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const html = await page.text();
    const field = (name: string) =>
      new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!.replaceAll('&amp;', '&');
    const signedIn = await fetch(`${issuer}/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, cookie: jar },
      body: new URLSearchParams({
        csrf: field('csrf'),
        request: field('request'),
        email: 'bench@example.com',
        password,
      }),
    });
    const session = signedIn.headers
      .getSetCookie()
      .find((c) => c.startsWith('__Host-bulkhead_oidc_bench'))!
      .split(';')[0]!;
    const flow = async () => {
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const t0 = performance.now();
      const auth = await fetch(
        `${issuer}/authorize?${new URLSearchParams({ client_id: spa.clientId, redirect_uri: redirect, response_type: 'code', scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256' }).toString()}`,
        { redirect: 'manual', headers: { cookie: session } },
      );
      const code = new URL(auth.headers.get('location')!).searchParams.get('code');
      if (code === null) throw new Error(`authorize: ${auth.status}`);
      const token = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          client_id: spa.clientId,
          redirect_uri: redirect,
          code_verifier: verifier,
        }),
      });
      if (token.status !== 200) throw new Error(`token: ${token.status} ${await token.text()}`);
      await token.arrayBuffer();
      return performance.now() - t0;
    };
    for (let i = 0; i < 20; i++) await flow();
    const times: number[] = [];
    for (let i = 0; i < flows; i++) times.push(await flow());
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    cleanup.unshift(() => client.end());
    const floor: number[] = [];
    for (let i = 0; i < flows; i++) {
      const t0 = performance.now();
      await noop();
      for (let j = 0; j < exchangeRoundTrips; j++) await client.query('SELECT 1');
      await noop();
      floor.push(performance.now() - t0);
    }
    console.log(
      `authorization code exchange with a session (authorize + token, ${flows} sequential): p50 ${pct(times, 0.5).toFixed(1)} ms, p99 ${pct(times, 0.99).toFixed(1)} ms`,
    );
    console.log(
      `floor: two bare HTTP requests and ${exchangeRoundTrips} sequential database round trips (SELECT 1): p50 ${pct(floor, 0.5).toFixed(1)} ms, p99 ${pct(floor, 0.99).toFixed(1)} ms`,
    );
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    await database.drop();
  }
}

await main();
