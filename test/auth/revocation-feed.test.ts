// The revocation feed against a real Redis: a verifier in another service learns of a revocation through
// pub/sub, catches up over HTTP after (re)connecting, and follows a domain's suspension and resumption;
// it takes only what Bulkhead signed, in order, and reads Bulkhead's list again when something is off.
import { createHmac, generateKeyPairSync, sign as edSign } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { RevocationPublisher } from '../../src/identity/feed/publisher.js';
import type { RevocationKind } from '../../src/identity/revocations.js';
import type { Services } from '../../src/runtime.js';
import {
  createRevocationFeed,
  createVerifier,
  type RevocationFeed,
  type Verifier,
} from '../../src/sdk/index.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';

const issuer = 'https://bulkhead.feed.test';
const password = 'correct horse battery staple';
/** The feed token: every domain's revocations, and nothing else. */
const feedToken = 'feed-token-of-this-suite-0123456789abcdef';

describe('the revocation feed', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let base: string;
  let redis: Redis;
  let publisher: RevocationPublisher;
  let feed: RevocationFeed;
  let verifier: Verifier;
  let domain: { id: string; slug: string };

  // A Redis of this suite's own: what other suites publish on the shared server's channel would trigger
  // this feed's resyncs (and the forgeries published here must not reach their feeds).
  let privateRedis: PrivateRedis;
  let redisUrl: string;

  beforeAll(async () => {
    privateRedis = await startPrivateRedis();
    redisUrl = privateRedis.adminUrl;
    services = await openTestServices(
      backends.find((b) => b.name === 'pglite')!,
      { issuer, feedToken },
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
    feed = createRevocationFeed({ bulkheadUrl: base, redisUrl, credential: feedToken });
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
    await privateRedis.stop();
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

  /** Seqs no revocation will ever have: taken from the store's sequence by a transaction rolled back. */
  async function burnt(n: number): Promise<number[]> {
    const seqs: number[] = [];
    const rollback = new Error('rolled back');
    await services.store
      .system('revocations', async (tx) => {
        for (let i = 0; i < n; i++) {
          const row = await tx
            .insertInto('revocations')
            .values({ kind: 'session', target: 'ses_burnt', domain_id: domain.id, at: new Date() })
            .returning('seq')
            .executeTakeFirstOrThrow();
          seqs.push(Number(row.seq));
        }
        throw rollback;
      })
      .catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
    expect(seqs).toHaveLength(n);
    return seqs;
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
      credential: feedToken,
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
    // Signed with Bulkhead's feed key and published straight to the channel, newest first, with seqs of
    // the store's sequence that no revocation will have.
    const [s1, s2, s3, s4, s5, s6] = (await burnt(6)) as [number, number, number, number, number, number];
    const own = createRevocationFeed({ bulkheadUrl: base, redisUrl, credential: feedToken });
    await own.ready;
    const target = 'dom_0000000000000000000feed01';
    const at = new Date().toISOString();
    const send = (seq: number, kind: RevocationKind, t: string) =>
      redis.publish(
        'bulkhead:revocations',
        services.feedKeys.sign({ seq, kind, target: t, domainId: target, at }),
      );
    await send(s3, 'domain_restored', target);
    await send(s2, 'domain', target);
    await send(s1, 'domain', target);
    const marker = 'ses_feed_order_marker';
    await send(s4, 'session', marker);
    await vi.waitFor(() =>
      expect(own.isRevoked({ sessionId: marker, subject: 'prn_x', domainId: 'dom_x' })).toBe(true),
    );
    expect(own.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: target })).toBe(false);
    // The two older ones went backwards: refused and counted, not applied.
    expect(own.counters().rejected.stale).toBeGreaterThanOrEqual(2);
    // A newer suspension wins again.
    await send(s5, 'domain', target);
    await send(s6, 'session', `${marker}2`);
    await vi.waitFor(() =>
      expect(own.isRevoked({ sessionId: `${marker}2`, subject: 'prn_x', domainId: 'dom_x' })).toBe(true),
    );
    expect(own.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: target })).toBe(true);
    await own.close();
  });

  it('recovers a revocation lost on the channel from the gap after it', async () => {
    const t = await token();
    const { sessionId } = await verifier.verify(t, domain.id);
    // A feed of its own, with no resync of earlier tests' messages still to come.
    const own = createRevocationFeed({ bulkheadUrl: base, redisUrl, credential: feedToken });
    await own.ready;
    await publisher.stop(); // the revocation reaches the table, not the channel
    try {
      await services.tokens.revokeSession({ actor: 'test', requestId: null }, sessionId, 'test', domain.id);
      const lost = Number(
        (
          await services.store.system('revocations', (tx) =>
            tx
              .selectFrom('revocations')
              .select('seq')
              .where('target', '=', sessionId)
              .executeTakeFirstOrThrow(),
          )
        ).seq,
      );
      const [next] = (await burnt(1)) as [number];
      expect(next).toBe(lost + 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(own.isRevoked({ sessionId, subject: 'prn_x', domainId: domain.id })).toBe(false);
      const before = own.counters().resyncs;
      // A later genuine message arrives: the seq it skips sends the feed to Bulkhead's list.
      await redis.publish(
        'bulkhead:revocations',
        services.feedKeys.sign({
          seq: next,
          kind: 'session',
          target: 'ses_after_the_gap',
          domainId: domain.id,
          at: new Date().toISOString(),
        }),
      );
      await vi.waitFor(
        () => expect(own.isRevoked({ sessionId, subject: 'prn_x', domainId: domain.id })).toBe(true),
        { timeout: 3_000 },
      );
      expect(own.counters().resyncs).toBe(before + 1);
      expect(own.counters().accepted).toBe(1); // the message after the gap, and nothing else live
    } finally {
      await publisher.start();
      await own.close();
    }
  });

  it('refuses the reported forgery: an unsigned resumption with the highest seq leaves the domain suspended', async () => {
    const actor = { actor: 'test', requestId: null };
    const own = createRevocationFeed({ bulkheadUrl: base, redisUrl, credential: feedToken });
    await own.ready;
    const guarded = createVerifier({
      issuer,
      jwksUri: `${base}/.well-known/jwks.json`,
      isRevoked: (t) => own.isRevoked(t),
    });
    const t = await token();
    const marker = await guarded.verify(await token(), domain.id);
    await guarded.verify(t, domain.id);
    await services.domains.suspend(actor, domain.id);
    try {
      await vi.waitFor(() => expect(guarded.verify(t, domain.id)).rejects.toThrow());
      await redis.publish(
        'bulkhead:revocations',
        JSON.stringify({
          seq: 9007199254740991,
          kind: 'domain_restored',
          target: domain.id,
          domainId: domain.id,
          at: '9999-12-31T00:00:00.000Z',
        }),
      );
      // A genuine revocation after it: once applied, the forgery before it has been handled.
      await services.tokens.revokeSession(actor, marker.sessionId, 'test', domain.id);
      await vi.waitFor(() => expect(own.isRevoked({ ...marker, domainId: 'dom_other' })).toBe(true));
      await expect(guarded.verify(t, domain.id)).rejects.toThrow();
      // Later genuine changes still count: a resumption, then a suspension.
      await services.domains.resume(actor, domain.id);
      await vi.waitFor(() => guarded.verify(t, domain.id));
      await services.domains.suspend(actor, domain.id);
      await vi.waitFor(() => expect(guarded.verify(t, domain.id)).rejects.toThrow());
      expect(own.counters().rejected.unverified).toBe(1);
    } finally {
      await services.domains.resume(actor, domain.id);
      await own.close();
    }
  });

  it('keeps a suspended domain suspended whatever is published on the channel without a valid signature', async () => {
    const rejections: { reason: string; message: string }[] = [];
    const own = createRevocationFeed({
      bulkheadUrl: base,
      redisUrl,
      credential: feedToken,
      onRejected: (r) => rejections.push(r),
    });
    await own.ready;
    const guarded = createVerifier({
      issuer,
      jwksUri: `${base}/.well-known/jwks.json`,
      isRevoked: (t) => own.isRevoked(t),
    });
    // What Bulkhead itself publishes, captured as anyone subscribed to the channel can.
    const spy = new Redis(redisUrl);
    const captured: { message: string; seq: number; kind: string }[] = [];
    spy.on('message', (_channel: string, message: string) => {
      try {
        const e = JSON.parse(Buffer.from(message.split('.')[1] ?? '', 'base64url').toString()) as {
          seq: number;
          kind: string;
          target: string;
        };
        if (e.target === domain.id) captured.push({ message, seq: e.seq, kind: e.kind });
      } catch {
        // not one of Bulkhead's
      }
    });
    await spy.subscribe('bulkhead:revocations');
    const actor = { actor: 'test', requestId: null };
    try {
      const t = await token();
      const before = await guarded.verify(await token(), domain.id);
      const after = await guarded.verify(await token(), domain.id);
      await guarded.verify(t, domain.id);
      const [never] = (await burnt(1)) as [number];
      // A resumption's genuine message, to replay later; then the suspension the forgeries try to undo.
      await services.domains.suspend(actor, domain.id);
      await services.domains.resume(actor, domain.id);
      await services.domains.suspend(actor, domain.id);
      await services.tokens.revokeSession(actor, before.sessionId, 'test', domain.id);
      await vi.waitFor(() =>
        expect(captured.map((c) => c.kind)).toEqual(['domain', 'domain_restored', 'domain']),
      );
      await vi.waitFor(() => expect(own.isRevoked({ ...before, domainId: 'dom_other' })).toBe(true));
      await expect(guarded.verify(t, domain.id)).rejects.toThrow();
      const oldResumption = captured[1]!.message;
      const suspension = captured[2]!;
      const [header, , signature] = suspension.message.split('.') as [string, string, string];
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const restored = (seq: number, at: string) => ({
        seq,
        kind: 'domain_restored' as const,
        target: domain.id,
        domainId: domain.id,
        at,
      });
      const far = restored(Number.MAX_SAFE_INTEGER, '9999-12-31T00:00:00.000Z');
      const now = restored(Number.MAX_SAFE_INTEGER, new Date().toISOString());
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
      const { privateKey: otherKey } = generateKeyPairSync('ed25519');
      const signWith = (h: object, payload: object) => {
        const input = `${encode(h)}.${encode(payload)}`;
        return `${input}.${edSign(null, Buffer.from(input), otherKey).toString('base64url')}`;
      };
      const jwks = (await (await fetch(`${base}/v1/revocations/jwks.json`)).json()) as {
        keys: { kid: string; x: string }[];
      };
      const x = jwks.keys.find((k) => k.kid === kid)!.x;
      const hsInput = `${encode({ alg: 'HS256', typ: 'bulkhead-revocation+jws', kid })}.${encode(now)}`;
      const unverified = [
        // The reproduction: plain JSON, the highest seq, the end of time.
        JSON.stringify(far),
        JSON.stringify(now),
        // Unsigned JWS.
        `${encode({ alg: 'none', typ: 'bulkhead-revocation+jws' })}.${encode(now)}.`,
        // Another key, under Bulkhead's kid and under its own.
        signWith({ alg: 'EdDSA', typ: 'bulkhead-revocation+jws', kid }, now),
        signWith({ alg: 'EdDSA', typ: 'bulkhead-revocation+jws', kid: 'attacker' }, far),
        // The public key used as an HMAC secret.
        `${hsInput}.${createHmac('sha256', Buffer.from(x, 'base64url')).update(hsInput).digest('base64url')}`,
        // A genuine signature over another payload: the suspension's, with a resumption in its place.
        `${header}.${encode(now)}.${signature}`,
        `${header}.${encode(far)}.${signature}`,
      ];
      for (const m of unverified) await redis.publish('bulkhead:revocations', m);
      // Genuinely signed, but going backwards or from the future: a replay of the old resumption, an
      // older seq never seen here (a late message), and a resumption dated far ahead.
      const stale = services.feedKeys.sign(restored(never, new Date().toISOString()));
      const future = services.feedKeys.sign(restored(suspension.seq + 1, '9999-12-31T00:00:00.000Z'));
      for (const m of [oldResumption, stale, future]) await redis.publish('bulkhead:revocations', m);
      // A genuine revocation after them all: once it is applied, every message before it has been handled.
      await services.tokens.revokeSession(actor, after.sessionId, 'test', domain.id);
      await vi.waitFor(() => expect(own.isRevoked({ ...after, domainId: 'dom_other' })).toBe(true));

      // The domain is still suspended: its tokens are refused.
      expect(own.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: domain.id })).toBe(true);
      await expect(guarded.verify(t, domain.id)).rejects.toThrow();
      // Each refusal was counted and reported.
      const reasonOf = (m: string) => rejections.find((r) => r.message === m.slice(0, 200))?.reason;
      for (const m of unverified) expect(reasonOf(m), m).toBe('unverified');
      expect(reasonOf(stale)).toBe('stale');
      expect(reasonOf(future)).toBe('future');
      const counters = own.counters();
      expect(counters.rejected.unverified).toBeGreaterThanOrEqual(unverified.length);
      expect(counters.rejected.stale).toBeGreaterThanOrEqual(1);
      expect(counters.rejected.future).toBeGreaterThanOrEqual(1);
      expect(counters.duplicates).toBeGreaterThanOrEqual(1); // the replayed resumption
      expect(counters.resyncs).toBeGreaterThan(1);
      expect(counters.accepted).toBeGreaterThanOrEqual(1);

      // A flood of forgeries costs Bulkhead a read per resync interval, not one per message.
      await new Promise((r) => setTimeout(r, 1_100)); // past the interval of the resyncs above
      const flood = own.counters();
      for (let i = 0; i < 200; i++) await redis.publish('bulkhead:revocations', JSON.stringify(far));
      await vi.waitFor(() =>
        expect(own.counters().rejected.unverified).toBe(flood.rejected.unverified + 200),
      );
      await new Promise((r) => setTimeout(r, 1_100));
      expect(own.counters().resyncs - flood.resyncs).toBeGreaterThanOrEqual(1);
      expect(own.counters().resyncs - flood.resyncs).toBeLessThanOrEqual(3);
      expect(own.isRevoked({ sessionId: 'ses_x', subject: 'prn_x', domainId: domain.id })).toBe(true);

      // A genuine resumption still works, and a suspension after it still holds.
      await services.domains.resume(actor, domain.id);
      await vi.waitFor(() => guarded.verify(t, domain.id));
      await services.domains.suspend(actor, domain.id);
      await vi.waitFor(() => expect(guarded.verify(t, domain.id)).rejects.toThrow());
    } finally {
      await services.domains.resume(actor, domain.id).catch(() => undefined);
      await spy.quit();
      await own.close();
    }
  });

  describe('the catch-up list is read with a credential, and shows it its own domain only', () => {
    type Item = { kind: string; target: string; domainId: string };
    const list = async (credential: string | null) => {
      const res = await fetch(`${base}/v1/revocations?since=2000-01-01T00:00:00Z`, {
        headers: credential === null ? {} : { authorization: `Bearer ${credential}` },
      });
      return { status: res.status, body: (await res.json()) as { items?: Item[]; code?: string } };
    };
    const keyOf = async (domainId: string) => {
      const res = await fetch(`${base}/v1/domains/${domainId}/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { key: string }).key;
    };
    let other: { id: string; slug: string };
    let otherSession: string;
    let ownKey: string;

    beforeAll(async () => {
      // Another domain with a revoked session of its own.
      other = await services.domains.create(
        { actor: 'test', requestId: null },
        { slug: `feed-other-${process.pid}`, name: 'o' },
      );
      await services.principals.create({ actor: 'test', requestId: null }, other.id, {
        kind: 'user',
        email: 'other@example.com',
        password,
      });
      const res = await fetch(`${base}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'password',
          domain: other.slug,
          username: 'other@example.com',
          password,
        }),
      });
      // Its session, read from the token (its signing key is its own domain's, not this verifier's).
      const { sid } = decodeJwt(((await res.json()) as { access_token: string }).access_token);
      const sessionId = String(sid);
      otherSession = sessionId;
      await services.tokens.revokeSession({ actor: 'test', requestId: null }, sessionId, 'test', other.id);
      // And one of this domain's.
      const { sessionId: own } = await verifier.verify(await token(), domain.id);
      await services.tokens.revokeSession({ actor: 'test', requestId: null }, own, 'test', domain.id);
      ownKey = await keyOf(domain.id);
    });

    it('answers 401 without a credential, and tells nothing of any domain', async () => {
      const anonymous = await list(null);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.items).toBeUndefined();
      expect(JSON.stringify(anonymous.body)).not.toContain(other.id);
      expect(JSON.stringify(anonymous.body)).not.toContain(domain.id);
    });

    it("shows a domain's key and access token that domain's revocations and none of another's", async () => {
      for (const credential of [ownKey, await token()]) {
        const seen = await list(credential);
        expect(seen.status).toBe(200);
        expect(seen.body.items!.length).toBeGreaterThan(0);
        expect(seen.body.items!.every((i) => i.domainId === domain.id)).toBe(true);
        expect(JSON.stringify(seen.body)).not.toContain(other.id);
        expect(JSON.stringify(seen.body)).not.toContain(otherSession);
      }
      // The other domain's own key sees its revocation: what A was not shown exists.
      const theirs = await list(await keyOf(other.id));
      expect(theirs.body.items!.map((i) => i.target)).toContain(otherSession);
    });

    it("shows the feed token and the operator every domain's, and refuses the metrics token", async () => {
      for (const credential of [feedToken, operatorToken]) {
        const all = await list(credential);
        expect(all.status).toBe(200);
        const domains = new Set(all.body.items!.map((i) => i.domainId));
        expect(domains.has(domain.id) && domains.has(other.id)).toBe(true);
      }
      // The feed token reads the feed and nothing else.
      const res = await fetch(`${base}/v1/domains`, { headers: { authorization: `Bearer ${feedToken}` } });
      expect(res.status).toBe(403);
    });

    it("keeps a feed that follows one domain with that domain's key, and waits for a read that answers", async () => {
      let calls = 0;
      // Refused at first (a wrong key), then the right one: `ready` waits for the read that answers.
      const scoped = createRevocationFeed({
        bulkheadUrl: base,
        redisUrl,
        resyncIntervalMs: 50,
        credential: () => (++calls < 3 ? 'bhk_not-a-key' : ownKey),
      });
      try {
        await scoped.ready;
        expect(calls).toBeGreaterThanOrEqual(3);
        expect(scoped.counters().resyncFailures).toBeGreaterThanOrEqual(2);
        const t = await token();
        const { sessionId } = await verifier.verify(t, domain.id);
        expect(scoped.isRevoked({ sessionId, subject: 'prn_x', domainId: domain.id })).toBe(false);
        await services.tokens.revokeSession({ actor: 'test', requestId: null }, sessionId, 'test', domain.id);
        await vi.waitFor(() =>
          expect(scoped.isRevoked({ sessionId, subject: 'prn_x', domainId: domain.id })).toBe(true),
        );
      } finally {
        await scoped.close();
      }
    });
  });
});
