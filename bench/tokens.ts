// Token verification and revocation speed, each beside its baseline in the same run.
//
//   npm run bench:tokens          (needs Redis at BULKHEAD_TEST_REDIS_URL, default redis://127.0.0.1:6379)
//
// 1. verifications per second on distinct tokens: raw node:crypto Ed25519, jose's jwtVerify, the SDK verifier
//    (interleaved rounds, medians; BENCH_ROUNDS, default 5);
// 2. requests per second of a route protected by the SDK (one token, repeated) against the same route unprotected;
// 3. the protected route with the revocation feed's check on and off;
// 4. the time from a revocation's acknowledgement to the first refusal by the SDK verifier in a second process
//    (bench/feed-verifier.ts, through the revocation feed), p50/p99 over 200 revocations, interleaved with
//    raw Redis PUBLISH → a subscriber in that same process.
import { fork } from 'node:child_process';
import { generateKeyPairSync, randomUUID, verify as edVerify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';
import { RevocationPublisher } from '../src/identity/feed/publisher.js';
import { buildServer } from '../src/http/server.js';
import { buildServices } from '../src/runtime.js';
import { bulkheadFastify, createVerifier } from '../src/sdk/index.js';
import { openStore } from '../src/store/store.js';
import { scratchDatabase } from './database.js';

const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const count = Number(process.env['BENCH_TOKENS'] ?? 2000);
const domainId = 'dom_0000000000000000000000000b';
const issuer = 'bench';

function rate(n: number, ms: number) {
  return (n / ms) * 1000;
}
const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const median = (xs: number[]) => pct(xs, 0.5);

async function verification(): Promise<void> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
  const tokens = await Promise.all(
    Array.from({ length: count }, () =>
      new SignJWT({ dom: domainId, sid: `ses_${randomUUID()}`, client_id: 'bench' })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' })
        .setIssuer(issuer)
        .setSubject('prn_bench')
        .setAudience(`bulkhead:${domainId}`)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    ),
  );
  // Interleaved rounds, a fresh SDK verifier (empty caches) each time; the medians are reported.
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 5);
  const rates = { raw: [] as number[], jose: [] as number[], sdk: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    for (const token of tokens) {
      const [h, p, s] = token.split('.') as [string, string, string];
      if (!edVerify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url')))
        throw new Error('bad');
    }
    rates.raw.push(rate(count, performance.now() - t));
    t = performance.now();
    for (const token of tokens)
      await jwtVerify(token, publicKey, { algorithms: ['EdDSA'], issuer, audience: `bulkhead:${domainId}` });
    rates.jose.push(rate(count, performance.now() - t));
    const sdk = createVerifier({
      issuer,
      jwksUri: 'http://unused.invalid/jwks.json',
      keySet: createLocalJWKSet({ keys: [jwk] }),
    });
    t = performance.now();
    for (const token of tokens) await sdk.verify(token, domainId);
    rates.sdk.push(rate(count, performance.now() - t));
  }
  const raw = median(rates.raw);
  const jose = median(rates.jose);
  const viaSdk = median(rates.sdk);
  console.log(
    `SDK / raw per round: ${rates.sdk.map((x, i) => (x / rates.raw[i]!).toFixed(2)).join(' ')} (median of ${rounds} shown below)`,
  );
  console.log(`Verifications per second on ${count} distinct tokens:`);
  console.log(`  raw node:crypto Ed25519  ${raw.toFixed(0).padStart(8)}`);
  console.log(
    `  jose jwtVerify           ${jose.toFixed(0).padStart(8)}   ${(jose / raw).toFixed(2)} of raw`,
  );
  console.log(
    `  SDK verifier             ${viaSdk.toFixed(0).padStart(8)}   ${(viaSdk / raw).toFixed(2)} of raw`,
  );

  // Requests per second through Fastify (inject), one token repeated.
  const revoked = new Set<string>();
  const plain = Fastify();
  plain.get('/domains/:domainId/x', () => ({ ok: true }));
  const guarded = (withFeed: boolean) => {
    const app = Fastify();
    const verifier = createVerifier({
      issuer,
      jwksUri: 'http://unused.invalid/jwks.json',
      keySet: createLocalJWKSet({ keys: [jwk] }),
      ...(withFeed ? { isRevoked: (x: { sessionId: string }) => revoked.has(x.sessionId) } : {}),
    });
    void app.register(bulkheadFastify, {
      verifier,
      domainOf: (r) => (r.params as { domainId: string }).domainId,
    });
    app.get('/domains/:domainId/x', () => ({ ok: true }));
    return app;
  };
  const rps = async (app: FastifyInstance) => {
    await app.ready();
    const n = 3000;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await app.inject({
        method: 'GET',
        url: `/domains/${domainId}/x`,
        headers: { authorization: `Bearer ${tokens[0]!}` },
      });
    }
    return rate(n, performance.now() - start);
  };
  const open = await rps(plain);
  const off = await rps(guarded(false));
  const on = await rps(guarded(true));
  console.log('\nRequests per second (one token, repeated):');
  console.log(`  unprotected              ${open.toFixed(0).padStart(8)}`);
  console.log(
    `  SDK, feed check off      ${off.toFixed(0).padStart(8)}   ${(off / open).toFixed(2)} of unprotected`,
  );
  console.log(
    `  SDK, feed check on       ${on.toFixed(0).padStart(8)}   ${(on / off).toFixed(2)} of feed off`,
  );
}

/** Milliseconds since the epoch, fine-grained and comparable across processes. */
const wallClock = () => performance.timeOrigin + performance.now();

async function revocationLatency(): Promise<void> {
  const actor = { actor: 'bench', requestId: null };
  // BENCH_STORE=postgres runs Bulkhead on a scratch database of the PostgreSQL server instead.
  const database =
    process.env['BENCH_STORE'] === 'postgres'
      ? await scratchDatabase(
          process.env['BULKHEAD_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
        )
      : null;
  const store =
    database === null
      ? await openStore({ kind: 'pglite' })
      : await openStore({ kind: 'postgres', url: database.url });
  // The verifier follows every domain's revocations, with the feed token.
  const feedToken = 'bench-feed-token-0123456789abcdef0123456789';
  const services = buildServices(store, Buffer.alloc(32, 9), {
    providers: new Map(),
    slugQuarantineMs: 0,
    feedToken,
  });
  // As `bulkhead serve` does at start: a bearer credential is checked against the operator's token too.
  await services.operator.initialise('bench-operator-token-0123456789abcdefgh');
  const app = await buildServer(services);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const pub = new Redis(redisUrl);
  const publisher = new RevocationPublisher({ store, client: pub, signer: services.feedKeys });
  await publisher.start();
  // The verifier runs in a process of its own, like any service using the SDK.
  const child = fork(
    fileURLToPath(new URL('./feed-verifier.ts', import.meta.url)),
    [base, redisUrl, 'bulkhead', 'bench:raw', feedToken],
    {
      execArgv: ['--expose-gc', '--conditions=@bulkhead/source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  type Reply = Record<string, unknown>;
  const waiting: { match: (m: Reply) => boolean; resolve: (m: Reply) => void }[] = [];
  child.on('message', (m: Reply) => {
    if (typeof m['error'] === 'string') throw new Error(`verifier: ${m['error']}`);
    const i = waiting.findIndex((w) => w.match(m));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
  });
  const next = (match: (m: Reply) => boolean) =>
    new Promise<Reply>((resolve) => waiting.push({ match, resolve }));
  await next((m) => m['ready'] === true);

  const d = await services.domains.create(actor, { slug: 'bench-feed', name: 'b' });
  const p = await services.principals.create(actor, d.id, {
    kind: 'user',
    email: 'b@example.com',
    password: 'correct horse battery staple',
  });
  const row = await store.withDomain(d.id, (tx) =>
    tx.selectFrom('principals').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow(),
  );
  // Rounds of 200, each revocation interleaved with a raw message, so both see the same moments of the
  // machine; a p99 of 200 is the second-slowest, so each round's figures are printed and the ratio is the
  // median of the rounds'.
  const rounds = Number(process.env['BENCH_FEED_ROUNDS'] ?? 5);
  console.log(
    `\nRevocation acknowledged → first refusal at a second process (SDK verifier + feed), ${rounds} rounds of\n` +
      '200 revocations, each beside a raw Redis PUBLISH → a subscriber in that process:',
  );
  const ratios: number[] = [];
  const p99s: number[] = [];
  let i = 0;
  for (let round = 1; round <= rounds; round++) {
    const viaFeed: number[] = [];
    const raw: number[] = [];
    for (let n = 0; n < 200; n++, i++) {
      const rawReady = next((m) => m['rawReady'] === i);
      const rawAt = next((m) => m['raw'] === i);
      child.send({ raw: i });
      await rawReady;
      const published = wallClock();
      await pub.publish('bench:raw', 'x');
      raw.push(((await rawAt)['at'] as number) - published);

      const token = (await services.tokens.issue(actor, row, 'bench')).access_token;
      const { sid } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        sid: string;
      };
      const watching = next((m) => m['watching'] === i);
      const refused = next((m) => m['watch'] === i);
      child.send({ watch: i, token, domainId: d.id });
      await watching;
      await services.tokens.revokeSession(actor, sid, 'bench', d.id);
      const acknowledged = wallClock();
      viaFeed.push(((await refused)['at'] as number) - acknowledged);
    }
    const ratio = pct(viaFeed, 0.99) / pct(raw, 0.99);
    ratios.push(ratio);
    p99s.push(pct(viaFeed, 0.99));
    console.log(
      `  round ${round}: feed p50 ${pct(viaFeed, 0.5).toFixed(2)} ms  p99 ${pct(viaFeed, 0.99).toFixed(2)} ms   ` +
        `raw p50 ${pct(raw, 0.5).toFixed(2)} ms  p99 ${pct(raw, 0.99).toFixed(2)} ms   p99 ratio ${ratio.toFixed(1)}x`,
    );
  }
  const ratio = median(ratios);
  const p99 = median(p99s);
  console.log(
    `  median p99 ${p99.toFixed(2)} ms, median p99 ratio ${ratio.toFixed(1)}x ` +
      `(target p99 under 100 ms and under 2x: ${ratio < 2 && p99 < 100 ? 'met' : 'NOT met'})`,
  );
  child.disconnect();
  await publisher.stop();
  await pub.quit();
  await app.close();
  await services.close();
  await database?.drop();
}

// `--only verification` or `--only revocation` runs one half.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only !== 'revocation') await verification();
if (only !== 'verification') await revocationLatency();
