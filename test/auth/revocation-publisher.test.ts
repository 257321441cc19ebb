// The revocation publisher on both stores against a real Redis: a revocation's notice carries its record,
// which goes out without a read of the table; a bare, forged, altered or oversized notice makes it read the
// table instead, and never publishes what the table does not hold; each seq goes out once, in order, and
// signed with the feed's key.
import { createPublicKey, verify } from 'node:crypto';
import { Redis } from 'ioredis';
import { calculateJwkThumbprint, compactVerify, createLocalJWKSet } from 'jose';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FeedKeys, feedMessageType } from '../../src/identity/feed/feed-keys.js';
import { RevocationPublisher } from '../../src/identity/feed/publisher.js';
import {
  recordRevocation,
  revocationNotifyChannel,
  type Revocation,
  type RevocationKind,
} from '../../src/identity/revocations.js';
import { maxNoticeBytes, openNotice, sealNotice } from '../../src/store/notices.js';
import type { Store } from '../../src/store/store.js';
import { backends } from '../helpers/backends.js';

const redisUrl = process.env['BULKHEAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function until(condition: () => boolean, ms = 2_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const feedKeys = new FeedKeys({ secret: Buffer.alloc(32, 3) });

/** The revocation a published message carries, after checking its signature against the feed's keys. */
function opened(message: string, keys = feedKeys): Revocation {
  const [header, payload, signature] = message.split('.') as [string, string, string];
  const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
  const jwk = keys.jwks().keys.find((k) => k.kid === kid);
  if (jwk === undefined) throw new Error(`no published key ${kid}`);
  const key = createPublicKey({ key: { ...jwk }, format: 'jwk' });
  if (!verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url')))
    throw new Error('bad signature');
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Revocation;
}

describe('feed keys', () => {
  const revocation: Revocation = {
    seq: 7,
    kind: 'domain',
    target: 'dom_k',
    domainId: 'dom_k',
    at: '2026-01-01T00:00:00.000Z',
  };

  it('sign a revocation as a compact JWS that jose verifies under the published key set', async () => {
    const { payload, protectedHeader } = await compactVerify(
      feedKeys.sign(revocation),
      createLocalJWKSet(feedKeys.jwks()),
      { algorithms: ['EdDSA'] },
    );
    expect(protectedHeader).toEqual({
      alg: 'EdDSA',
      typ: feedMessageType,
      kid: expect.any(String) as string,
    });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(revocation);
  });

  it('name each key by its RFC 7638 thumbprint and publish the previous, current and next version', async () => {
    const v1 = new FeedKeys({ secret: Buffer.alloc(32, 3), version: 1 }).jwks().keys;
    const v2 = new FeedKeys({ secret: Buffer.alloc(32, 3), version: 2 }).jwks().keys;
    expect(v1).toHaveLength(2);
    expect(v2).toHaveLength(3);
    for (const jwk of v2) expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    // Version 2 signs with the key version 1 already published as its next, and still publishes version 1.
    expect(v2.map((k) => k.kid)).toEqual([v1[0]!.kid, v1[1]!.kid, expect.any(String)]);
    const signedByV2 = new FeedKeys({ secret: Buffer.alloc(32, 3), version: 2 }).sign(revocation);
    expect(opened(signedByV2, new FeedKeys({ secret: Buffer.alloc(32, 3), version: 1 }))).toEqual(revocation);
    // Version 4 no longer publishes version 2's key: a withdrawn key stops verifying.
    expect(() => opened(signedByV2, new FeedKeys({ secret: Buffer.alloc(32, 3), version: 4 }))).toThrow(
      'no published key',
    );
    // Another secret, other keys.
    const other = new FeedKeys({ secret: Buffer.alloc(32, 4) });
    expect(other.jwks().keys.map((k) => k.kid)).not.toContain(v1[0]!.kid);
    expect(() => opened(other.sign(revocation))).toThrow('no published key');
    expect(() => new FeedKeys({ secret: Buffer.alloc(32, 3), version: 0 })).toThrow(TypeError);
  });
});

describe('notice seals', () => {
  const key = Buffer.alloc(32, 1);

  it('open only with the same key and channel, unaltered', () => {
    const sealed = sealNotice(key, 'c', '{"a":1}');
    expect(openNotice(key, 'c', sealed)).toBe('{"a":1}');
    expect(openNotice(Buffer.alloc(32, 2), 'c', sealed)).toBeNull();
    expect(openNotice(key, 'd', sealed)).toBeNull();
    expect(openNotice(key, 'c', sealed.replace('{"a":1}', '{"a":2}'))).toBeNull();
    expect(openNotice(key, 'c', `${sealed.slice(0, 10)}.{"a":1}`)).toBeNull();
    for (const bare of ['', '{"a":1}', '.', undefined]) expect(openNotice(key, 'c', bare)).toBeNull();
  });

  it('leave a payload that would not fit in a NOTIFY out', () => {
    expect(sealNotice(key, 'c', 'x'.repeat(maxNoticeBytes))).toBe('');
    const fits = 'x'.repeat(maxNoticeBytes - 44);
    expect(openNotice(key, 'c', sealNotice(key, 'c', fits))).toBe(fits);
    expect(sealNotice(key, 'c', 'é'.repeat((maxNoticeBytes - 44) / 2 + 1))).toBe('');
  });
});

describe.each(backends)('the revocation publisher on $name', (backend) => {
  let store: Store & { drop(): Promise<void> };
  let redis: Redis;
  let publisher: RevocationPublisher | null = null;
  let published: Revocation[] = [];
  let lags: number[] = [];
  let reads = 0;

  beforeAll(async () => {
    store = await backend.open();
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await redis.ping();
  });
  afterEach(async () => {
    await publisher?.stop();
    publisher = null;
  });
  afterAll(async () => {
    await redis.quit();
    await store.drop();
  });

  /** A publisher that polls only when told to, counting its reads of the table and what it sends. */
  async function start(
    options: { intervalMs?: number; overlapMs?: number; slowReads?: boolean; failSends?: number } = {},
  ) {
    published = [];
    lags = [];
    reads = 0;
    let failures = options.failSends ?? 0;
    const p = new RevocationPublisher({
      store,
      client: {
        publish: async (channel, message) => {
          if (failures-- > 0) throw new Error('Redis went away');
          published.push(opened(message));
          return redis.publish(channel, message);
        },
      },
      signer: feedKeys,
      onError: () => {},
      onPublished: (lag) => lags.push(lag),
      intervalMs: options.intervalMs ?? 3_600_000,
      overlapMs: options.overlapMs ?? 0, // earlier tests' revocations stay out of its reads
    });
    const tick = p.tick.bind(p);
    p.tick = async () => {
      reads++;
      if (options.slowReads === true) await pause(100);
      return tick();
    };
    await p.start();
    publisher = p;
    return p;
  }

  let n = 0;
  const revoke = (kind: RevocationKind = 'session', target = `ses_${++n}`) =>
    store.system('revocations', (tx) => recordRevocation(store, tx, kind, target, 'dom_x'));
  const seqs = () => published.map((r) => r.seq);
  const stored = async (target: string) =>
    Number(
      (
        await store.system('revocations', (tx) =>
          tx.selectFrom('revocations').select('seq').where('target', '=', target).executeTakeFirstOrThrow(),
        )
      ).seq,
    );

  it('hands a listener the sealed payload, and null for a NOTIFY sent any other way', async () => {
    const got: (string | null)[] = [];
    const stop = await store.listen('bulkhead_test_notices', (payload) => got.push(payload));
    await store.system('revocations', (tx) => store.notify(tx, 'bulkhead_test_notices', 'hello'));
    await store.system('revocations', (tx) =>
      sql`SELECT pg_notify('bulkhead_test_notices', 'hello')`.execute(tx),
    );
    await store.system('revocations', (tx) => sql`SELECT pg_notify('bulkhead_test_notices', '')`.execute(tx));
    await until(() => got.length === 3);
    expect(got).toEqual(['hello', null, null]);
    await stop();
  });

  it("reports each sent revocation's lag from its record, and none for a send that failed", async () => {
    await start({ failSends: 1, intervalMs: 50 });
    await revoke('session', 'ses_lagged');
    // A message is counted once Redis has taken it.
    await until(() => lags.length === 1, 5_000);
    expect(published).toHaveLength(1);
    expect(lags[0]).toBeGreaterThanOrEqual(0);
    expect(lags[0]).toBeLessThan(5);
  });

  it('publishes the record a notice carries without reading the table', async () => {
    await start();
    await revoke('session', 'ses_carried');
    await until(() => published.length === 1);
    expect(reads).toBe(0);
    expect(published[0]).toEqual({
      seq: await stored('ses_carried'),
      kind: 'session',
      target: 'ses_carried',
      domainId: 'dom_x',
      at: expect.any(String) as string,
    });
    await pause(50);
    expect(reads).toBe(0);
    expect(published).toHaveLength(1);
  });

  it('reads the table for a bare notice, and publishes nothing a forged or altered one claims', async () => {
    await start();
    // A row written and announced without a payload, as when the record would not fit.
    await store.system('revocations', async (tx) => {
      await tx
        .insertInto('revocations')
        .values({ kind: 'session', target: 'ses_bare', domain_id: 'dom_x', at: new Date() })
        .execute();
      await sql`SELECT pg_notify(${revocationNotifyChannel}, '')`.execute(tx);
    });
    await until(() => published.length === 1);
    expect(reads).toBe(1);
    expect(published[0]!.target).toBe('ses_bare');

    // Anyone connected to the database can NOTIFY: a forged resumption must not go out.
    const forged = JSON.stringify({
      seq: 999_999,
      kind: 'domain_restored',
      target: 'dom_victim',
      domainId: 'dom_victim',
      at: new Date().toISOString(),
    });
    const sealedElsewhere = sealNotice(Buffer.alloc(32, 9), revocationNotifyChannel, forged);
    for (const payload of [forged, sealedElsewhere, 'not json', '{"seq":"1"}'])
      await store.system('revocations', (tx) =>
        sql`SELECT pg_notify(${revocationNotifyChannel}, ${payload})`.execute(tx),
      );
    // Sealed with the store's own key but not a revocation: still only a reason to read.
    for (const payload of ['[1,2]', '{"seq":-1,"kind":"session","target":"t","domainId":"d","at":"x"}'])
      await store.system('revocations', (tx) => store.notify(tx, revocationNotifyChannel, payload));
    await until(() => reads >= 2);
    await pause(50);
    expect(published.map((r) => r.target)).toEqual(['ses_bare']);
  });

  it('falls back to the table for a record too big to carry', async () => {
    await start();
    const target = `ses_${'x'.repeat(maxNoticeBytes)}`;
    await revoke('session', target);
    await until(() => published.length === 1);
    expect(reads).toBe(1);
    expect(published[0]!.target).toBe(target);
  });

  it('keeps a carried record behind an earlier one only the table can supply', async () => {
    await start({ slowReads: true }); // the later notices arrive while the table is being read
    await store.system('revocations', async (tx) => {
      await tx
        .insertInto('revocations')
        .values({ kind: 'domain', target: 'dom_order', domain_id: 'dom_order', at: new Date() })
        .execute();
      await sql`SELECT pg_notify(${revocationNotifyChannel}, '')`.execute(tx);
    });
    await revoke('domain_restored', 'dom_order');
    await revoke('domain', 'dom_order');
    await until(() => published.length === 3);
    await pause(50);
    expect(published.map((r) => r.kind)).toEqual(['domain', 'domain_restored', 'domain']);
    expect(reads).toBe(1);
    expect(seqs()).toEqual([...seqs()].sort((a, b) => a - b));
  });

  it('reads the table again after a failed send, and keeps later records behind it', async () => {
    await start({ failSends: 1, slowReads: true });
    await revoke('session', 'ses_failed');
    await revoke('session', 'ses_after');
    await until(() => published.length === 2);
    await pause(50);
    expect(published.map((r) => r.target)).toEqual(['ses_failed', 'ses_after']);
    expect(reads).toBe(1);
  });

  it('publishes each seq once, across notices and many polls', async () => {
    await start({ intervalMs: 10, overlapMs: 40 });
    const targets = ['ses_once_1', 'ses_once_2', 'ses_once_3'];
    for (const target of targets) await revoke('session', target);
    await pause(400); // ten windows' worth of polls after the notices
    expect(reads).toBeGreaterThan(10);
    const mine = published.filter((r) => targets.includes(r.target));
    expect(mine.map((r) => r.target)).toEqual(targets);
  });

  it('publishes from the table what it missed while it was not listening', async () => {
    const p = await start();
    await p.stop();
    await revoke('session', 'ses_missed');
    await p.start();
    expect(published).toHaveLength(0);
    await p.tick();
    expect(published.map((r) => r.target)).toEqual(['ses_missed']);
  });
});
