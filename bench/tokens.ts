// Token verification and revocation speed, each beside its baseline in the same run.
//
//   npm run bench:tokens          (needs Redis at BULKHEAD_TEST_REDIS_URL, default redis://127.0.0.1:6379)
//
// 1. verifications per second on distinct tokens: raw node:crypto Ed25519, jose's jwtVerify, the SDK verifier
//    (interleaved rounds, medians; BENCH_ROUNDS, default 5);
// 2. requests per second of a route protected by the SDK (one token, repeated) against the same route unprotected;
// 3. the protected route with the revocation feed's check on and off;
// 4. the time from a revocation's commit to its refusal in another verifier (through the feed), p50/p99 over
//    200 revocations, beside raw Redis PUBLISH → subscriber.
import { generateKeyPairSync, randomUUID, verify as edVerify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';
import { RevocationPublisher } from '../src/identity/feed/publisher.js';
import { buildServer } from '../src/http/server.js';
import { buildServices } from '../src/runtime.js';
import { bulkheadFastify, createRevocationFeed, createVerifier } from '../src/sdk/index.js';
import { openStore } from '../src/store/store.js';

const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const count = Number(process.env['BENCH_TOKENS'] ?? 2000);
const domainId = 'dom_0000000000000000000000000b';
const issuer = 'bench';

function rate(n: number, ms: number) {
  return (n / ms) * 1000;
}
const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

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
  const median = (xs: number[]) => pct(xs, 0.5);
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

async function revocationLatency(): Promise<void> {
  const store = await openStore({ kind: 'pglite' });
  const services = buildServices(store, Buffer.alloc(32, 9), { providers: new Map(), slugQuarantineMs: 0 });
  const app = await buildServer(services);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const pub = new Redis(redisUrl);
  const publisher = new RevocationPublisher({ store, client: pub });
  await publisher.start();
  const feed = createRevocationFeed({ bulkheadUrl: base, redisUrl });
  await feed.ready;
  const d = await services.domains.create(
    { actor: 'bench', requestId: null },
    { slug: 'bench-feed', name: 'b' },
  );
  const p = await services.principals.create({ actor: 'bench', requestId: null }, d.id, {
    kind: 'user',
    email: 'b@example.com',
    password: 'correct horse battery staple',
  });
  const row = await store.withDomain(d.id, (tx) =>
    tx.selectFrom('principals').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow(),
  );
  const viaFeed: number[] = [];
  for (let i = 0; i < 200; i++) {
    await services.tokens.issue({ actor: 'bench', requestId: null }, row, 'bench');
    const session = await store.withDomain(d.id, (tx) =>
      tx
        .selectFrom('sessions')
        .select('id')
        .where('principal_id', '=', p.id)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow(),
    );
    await services.tokens.revokeSession({ actor: 'bench', requestId: null }, session.id, 'bench', d.id);
    const start = performance.now();
    while (!feed.isRevoked({ sessionId: session.id, subject: 'x', domainId: 'x' }))
      await new Promise((r) => setImmediate(r));
    viaFeed.push(performance.now() - start);
  }
  const sub = new Redis(redisUrl);
  await sub.subscribe('bench:raw');
  const raw: number[] = [];
  for (let i = 0; i < 200; i++) {
    const got = new Promise<number>((resolve) => sub.once('message', () => resolve(performance.now())));
    const start = performance.now();
    await pub.publish('bench:raw', 'x');
    raw.push((await got) - start);
  }
  console.log('\nRevocation to refusal in another verifier, 200 revocations:');
  console.log(
    `  through the feed         p50 ${pct(viaFeed, 0.5).toFixed(1)} ms   p99 ${pct(viaFeed, 0.99).toFixed(1)} ms`,
  );
  console.log(
    `  raw Redis PUBLISH        p50 ${pct(raw, 0.5).toFixed(2)} ms   p99 ${pct(raw, 0.99).toFixed(2)} ms`,
  );
  console.log(`  ratio (p99)              ${(pct(viaFeed, 0.99) / pct(raw, 0.99)).toFixed(1)}x`);
  await publisher.stop();
  await feed.close();
  await sub.quit();
  await pub.quit();
  await app.close();
  await services.close();
}

await verification();
await revocationLatency();
