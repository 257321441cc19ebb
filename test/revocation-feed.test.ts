// The revocation feed against a real Redis: a verifier in another service learns of a revocation through
// pub/sub, catches up over HTTP after (re)connecting, and follows a domain's suspension and resumption.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../src/http/server.js';
import type { App } from '../src/http/types.js';
import { RevocationPublisher } from '../src/identity/feed/publisher.js';
import type { Services } from '../src/runtime.js';
import {
  createRevocationFeed,
  createVerifier,
  type RevocationFeed,
  type Verifier,
} from '../src/sdk/index.js';
import { operatorToken } from './helpers/api.js';
import { backends, openTestServices } from './helpers/backends.js';

const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const issuer = 'https://bulkhead.feed.test';
const password = 'correct horse battery staple';

describe('the revocation feed', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let base: string;
  let redis: Redis;
  let publisher: RevocationPublisher;
  let feed: RevocationFeed;
  let verifier: Verifier;
  let domain: { id: string; slug: string };

  beforeAll(async () => {
    services = await openTestServices(
      backends.find((b) => b.name === 'pglite')!,
      { issuer },
    );
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await redis.ping(); // no Redis: the suite fails here, it is not skipped
    publisher = new RevocationPublisher({ store: services.store, client: redis, signer: services.feedKeys });
    await publisher.start();
    domain = await services.domains.create(
      { actor: 'test', requestId: null },
      { slug: `feed-${process.pid}`, name: 'f' },
    );
    await services.principals.create({ actor: 'test', requestId: null }, domain.id, {
      kind: 'user',
      email: 'dev@example.com',
      password,
    });
    feed = createRevocationFeed({ bulkheadUrl: base, redisUrl });
    await feed.ready;
    verifier = createVerifier({
      issuer,
      jwksUri: `${base}/.well-known/jwks.json`,
      isRevoked: (t) => feed.isRevoked(t),
    });
  });
  afterAll(async () => {
    await publisher.stop();
    await feed.close();
    await redis.quit();
    await app.close();
    await services.drop();
  });

  async function token(username = 'dev@example.com', secret = password): Promise<string> {
    const res = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', domain: domain.slug, username, password: secret }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function refusedWithin(t: string, ms: number): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < ms) {
      try {
        await verifier.verify(t, domain.id);
      } catch {
        return Date.now() - start;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`still accepted after ${ms} ms`);
  }

  it('carries a session revocation to the other service', async () => {
    const t = await token();
    const { sessionId } = await verifier.verify(t, domain.id);
    const res = await fetch(`${base}/v1/domains/${domain.id}/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(res.status).toBe(204);
    const took = await refusedWithin(t, 2_000);
    expect(took).toBeLessThan(2_000);
  });

  it('refuses the tokens from before a password change and accepts those from after', async () => {
    const newPassword = 'a new horse battery staple';
    const user = await services.principals.create({ actor: 'test', requestId: null }, domain.id, {
      kind: 'user',
      email: 'ops@example.com',
      password,
    });
    const old = await token('ops@example.com');
    await verifier.verify(old, domain.id);
    const res = await fetch(`${base}/v1/domains/${domain.id}/principals/${user.id}/password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ password: newPassword }),
    });
    expect(res.status).toBe(200);
    await refusedWithin(old, 2_000);
    // By now the feed has everything the change announced: a revoked principal would refuse this too.
    const fresh = await token('ops@example.com', newPassword);
    expect((await verifier.verify(fresh, domain.id)).subject).toBe(user.id);
  });

  it('catches up on what happened before it connected, and tells the service of each revocation', async () => {
    const t = await token();
    const { sessionId } = await verifier.verify(t, domain.id);
    await services.tokens.revokeSession({ actor: 'test', requestId: null }, sessionId, 'test', domain.id);
    const told: { kind: string; target: string }[] = [];
    const late = createRevocationFeed({
      bulkheadUrl: base,
      redisUrl,
      onRevocation: (event) => {
        told.push(event);
        throw new Error('a failing callback changes nothing');
      },
    });
    await late.ready;
    expect(late.isRevoked({ sessionId, subject: 'prn_x', domainId: domain.id })).toBe(true);
    expect(told).toContainEqual({ kind: 'session', target: sessionId });
    // Live ones too, as they arrive.
    const next = await verifier.verify(await token(), domain.id);
    await services.tokens.revokeSession(
      { actor: 'test', requestId: null },
      next.sessionId,
      'test',
      domain.id,
    );
    await vi.waitFor(() => expect(told).toContainEqual({ kind: 'session', target: next.sessionId }));
    expect(late.isRevoked({ sessionId: next.sessionId, subject: 'prn_x', domainId: domain.id })).toBe(true);
    await late.close();
  });

  it('follows a domain through suspension and resumption', async () => {
    const t = await token();
    await verifier.verify(t, domain.id);
    await services.domains.suspend({ actor: 'test', requestId: null }, domain.id);
    await refusedWithin(t, 2_000);
    await services.domains.resume({ actor: 'test', requestId: null }, domain.id);
    const start = Date.now();
    for (;;) {
      try {
        await verifier.verify(t, domain.id);
        break;
      } catch {
        if (Date.now() - start > 2_000) throw new Error('not accepted again after resume');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });

  it('keeps the newest state of a domain whatever order its events arrive in', async () => {
    // Published straight to the channel, newest first, with seqs far above the store's.
    const target = 'dom_0000000000000000000feed01';
    const at = new Date().toISOString();
    const send = (seq: number, kind: string, t: string) =>
      redis.publish('bulkhead:revocations', JSON.stringify({ seq, kind, target: t, at }));
    await send(2_000_000_003, 'domain_restored', target);
    await send(2_000_000_002, 'domain', target);
    await send(2_000_000_001, 'domain', target);
    const marker = 'ses_feed_order_marker';
    await send(2_000_000_004, 'session', marker);
    const start = Date.now();
    while (!feed.isRevoked({ sessionId: marker, subject: 'prn_x', domainId: 'dom_x' })) {
      if (Date.now() - start > 2_000) throw new Error('the marker never arrived');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(feed.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: target })).toBe(false);
    // A newer suspension wins again.
    await send(2_000_000_005, 'domain', target);
    await send(2_000_000_006, 'session', `${marker}2`);
    while (!feed.isRevoked({ sessionId: `${marker}2`, subject: 'prn_x', domainId: 'dom_x' })) {
      if (Date.now() - start > 4_000) throw new Error('the second marker never arrived');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(feed.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: target })).toBe(true);
  });
});
