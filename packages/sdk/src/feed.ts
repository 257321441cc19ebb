// Keeps a verifier's view of revocations current: subscribes to Bulkhead's revocation channel and, on
// every (re)connect, catches up over HTTP from a little before the last event it saw. Answers in
// memory, so a verification never waits on the network.
//
// Whoever may publish on that Redis can put anything on the channel, so a message counts only when it is
// a compact JWS signed by a key of the feed's key set, which comes from Bulkhead over HTTP like the token
// JWKS (`/v1/revocations/jwks.json`). A message that does not verify, whose seq is not after the last one
// accepted, or that is dated beyond the allowed clock skew is dropped and counted; then the feed reads
// Bulkhead's list again (`GET /v1/revocations?since=…`, at most once a resync interval), so neither a
// forged message nor a late or lost genuine one can leave it holding a state Bulkhead no longer has.
//
// That list is not public: the feed reads it with a credential, which decides what it sees — a domain's
// provisioning key or access token that domain's revocations, Bulkhead's feed token every domain's.
//
// ioredis is an optional peer dependency: it is loaded when a feed is created, so a service that only
// verifies tokens neither installs nor loads it.
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { compactVerify, createRemoteJWKSet, type CompactVerifyGetKey } from 'jose';

export interface RevocationFeedOptions {
  /** Bulkhead's base URL, for the catch-up read (`/v1/revocations`) and the feed's keys. */
  readonly bulkheadUrl: string;
  /** The Redis Bulkhead publishes to (its BULKHEAD_REDIS_URL). */
  readonly redisUrl: string;
  /**
   * The bearer credential of the catch-up read: a provisioning key or an access token of the domain whose
   * tokens this service verifies (it reads that domain's revocations only), or Bulkhead's feed token
   * (`BULKHEAD_FEED_TOKEN`) for a service that verifies every domain's. A function is asked before every
   * read, for an access token that is renewed.
   */
  readonly credential: string | (() => string | Promise<string>);
  /** How far back the first catch-up reads (default 24 h, longer than any session). */
  readonly historySeconds?: number;
  /** The feed's public keys (default `<bulkheadUrl>/v1/revocations/jwks.json`). */
  readonly feedKeysUri?: string | URL;
  /** How far a message's time may be ahead of this clock before it is refused (default 30 s). */
  readonly clockSkewSeconds?: number;
  /** The shortest time between two reads of Bulkhead's list after a refused message or a gap (default 1 s). */
  readonly resyncIntervalMs?: number;
  /**
   * Called after each revocation is applied (live or caught up; possibly more than once for one event),
   * for a service that holds something of its own to end at once: open WebSockets, streams, caches.
   */
  readonly onRevocation?: (event: RevocationEvent) => void;
  /** Called for each message the feed refuses, e.g. to log it; `message` is cut to 200 characters. */
  readonly onRejected?: (rejection: { reason: FeedRejection; message: string }) => void;
}

/** A revocation as the feed applies it: `target` is a session, principal or domain id by `kind`. */
export interface RevocationEvent {
  readonly kind: 'session' | 'principal' | 'domain' | 'domain_restored';
  readonly target: string;
}

/**
 * Why a message was refused: `unverified` (not signed by a key of the feed's key set: unsigned, another
 * key, altered), `malformed` (signed, but not a revocation), `stale` (its seq is not after the last one
 * accepted: a replay, or a message that arrived late), `future` (dated beyond the clock skew).
 */
export type FeedRejection = 'unverified' | 'malformed' | 'stale' | 'future';

/** What the feed has seen since it started. */
export interface RevocationFeedCounters {
  /** Live messages applied. */
  readonly accepted: number;
  /** Live messages with a seq already applied (each Bulkhead process publishes every revocation). */
  readonly duplicates: number;
  /** Live messages refused, by reason. */
  readonly rejected: Readonly<Record<FeedRejection, number>>;
  /** Reads of Bulkhead's list (catch-ups and resyncs), and how many of them failed. */
  readonly resyncs: number;
  readonly resyncFailures: number;
}

interface Event {
  readonly seq: number;
  readonly kind: 'session' | 'principal' | 'domain' | 'domain_restored';
  readonly target: string;
  readonly at: string;
}

export interface RevocationFeed {
  /** True when the session, its principal or its domain has been revoked. */
  isRevoked(token: { sessionId: string; subject: string; domainId: string }): boolean;
  /** Resolves once subscribed and caught up. */
  readonly ready: Promise<void>;
  /** A snapshot of the feed's counters, e.g. for the service's metrics. */
  counters(): RevocationFeedCounters;
  close(): Promise<void>;
}

const channel = 'bulkhead:revocations';
const messageType = 'bulkhead-revocation+jws';
const kinds: readonly string[] = ['session', 'principal', 'domain', 'domain_restored'];
/** How far before the event it starts from a catch-up reads, for a commit that came late. */
const overlapMs = 5_000;
/** The longest a revocation's commit is taken to lag behind its time. */
const lateCommitMs = 60_000;
/** How many applied seqs are remembered to tell a duplicate from a stale message. */
const rememberedSeqs = 10_000;

/** The ioredis client class, or a TypeError saying what to install. */
function redisClass(): typeof Redis {
  try {
    return (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'MODULE_NOT_FOUND') throw error;
    throw new TypeError(
      'createRevocationFeed needs the package ioredis (an optional peer dependency of @bulkhead/sdk): npm install ioredis',
      { cause: error },
    );
  }
}

/** The event a payload holds, or null unless it is exactly a well-formed revocation. */
function eventOf(value: unknown): Event | null {
  if (typeof value !== 'object' || value === null) return null;
  const { seq, kind, target, at } = value as Record<string, unknown>;
  if (
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq <= 0 ||
    typeof kind !== 'string' ||
    !kinds.includes(kind) ||
    typeof target !== 'string' ||
    typeof at !== 'string' ||
    Number.isNaN(Date.parse(at))
  ) {
    return null;
  }
  return { seq, kind: kind as Event['kind'], target, at };
}

/**
 * @example
 * const feed = createRevocationFeed({
 *   bulkheadUrl: 'https://bulkhead.example',
 *   redisUrl: 'redis://cache:6379',
 *   credential: process.env.BULKHEAD_KEY!,
 * });
 * const verifier = createVerifier({ issuer, jwksUri, isRevoked: (t) => feed.isRevoked(t) });
 */
export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const base = new URL(options.bulkheadUrl).toString().replace(/\/+$/, '');
  const keys: CompactVerifyGetKey = createRemoteJWKSet(
    new URL(options.feedKeysUri ?? `${base}/v1/revocations/jwks.json`),
    { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 },
  );
  const skewMs = (options.clockSkewSeconds ?? 30) * 1000;
  const resyncIntervalMs = options.resyncIntervalMs ?? 1_000;
  const historyMs = (options.historySeconds ?? 86_400) * 1000;
  if (
    typeof options.credential !== 'function' &&
    !(typeof options.credential === 'string' && options.credential !== '')
  )
    throw new TypeError(
      'createRevocationFeed: credential is required (a key or access token of the domain, or the feed token)',
    );
  if (!(skewMs >= 0) || !(resyncIntervalMs >= 0) || !(historyMs > 0))
    throw new TypeError(
      'createRevocationFeed: clockSkewSeconds and resyncIntervalMs must be at least 0, historySeconds above 0',
    );

  const sessions = new Set<string>();
  const principals = new Set<string>();
  // A domain can be suspended and resumed again: its state is that of its newest event by seq, whatever
  // order the events arrive in (pub/sub and catch-up can deliver them out of order). Sessions and
  // principals only ever get revoked, so applying one twice or late changes nothing.
  const domains = new Map<string, { seq: number; revoked: boolean }>();
  let last = new Date(Date.now() - historyMs);
  // The newest seq applied from any source, and the seqs applied lately (a Set keeps insertion order).
  let lastSeq = 0;
  const applied = new Set<number>();
  const counts = {
    accepted: 0,
    duplicates: 0,
    rejected: { unverified: 0, malformed: 0, stale: 0, future: 0 },
    resyncs: 0,
    resyncFailures: 0,
  };

  const apply = (e: Event) => {
    if (e.kind === 'session') sessions.add(e.target);
    else if (e.kind === 'principal') principals.add(e.target);
    else {
      const known = domains.get(e.target);
      if (known === undefined || known.seq < e.seq)
        domains.set(e.target, { seq: e.seq, revoked: e.kind === 'domain' });
    }
    if (e.seq > lastSeq) lastSeq = e.seq;
    applied.add(e.seq);
    if (applied.size > rememberedSeqs) applied.delete(applied.values().next().value!);
    // Never ahead of this clock, whatever the source says: the next catch-up must not skip the present.
    const at = Math.min(Date.parse(e.at), Date.now());
    if (at > last.getTime()) last = new Date(at);
    try {
      options.onRevocation?.({ kind: e.kind, target: e.target });
    } catch {
      // the service's callback failing changes nothing of the feed
    }
  };

  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));

  /** Reads Bulkhead's list from `since` and applies all of it: what HTTP says is the truth. */
  const catchUp = async (since: number) => {
    counts.resyncs++;
    const from = new Date(Math.max(since, Date.now() - historyMs)).toISOString();
    try {
      const credential =
        typeof options.credential === 'function' ? await options.credential() : options.credential;
      const response = await fetch(`${base}/v1/revocations?since=${encodeURIComponent(from)}`, {
        headers: { authorization: `Bearer ${credential}` },
      });
      if (!response.ok) throw new Error(`catch-up failed: HTTP ${response.status}`);
      const { items } = (await response.json()) as { items: unknown[] };
      for (const item of items) {
        const e = eventOf(item);
        if (e !== null) apply(e);
      }
      resolveReady();
    } catch (error) {
      counts.resyncFailures++;
      throw error;
    }
  };

  // Resyncs asked for while one runs, or within the interval of the last, are run once, from the
  // earliest time any of them asked for.
  let resyncFrom: number | null = null;
  let resyncTimer: NodeJS.Timeout | null = null;
  let resyncing = false;
  let lastResync = 0;
  let closed = false;
  const resync = (from: number) => {
    resyncFrom = Math.min(resyncFrom ?? from, from);
    if (resyncing || resyncTimer !== null || closed) return;
    resyncTimer = setTimeout(
      () => {
        resyncTimer = null;
        const since = resyncFrom!;
        resyncFrom = null;
        resyncing = true;
        lastResync = Date.now();
        void catchUp(since)
          .catch(() => resync(since)) // Bulkhead unreachable: try again after the interval
          .finally(() => {
            resyncing = false;
            if (resyncFrom !== null) resync(resyncFrom);
          });
      },
      Math.max(0, lastResync + resyncIntervalMs - Date.now()),
    );
    resyncTimer.unref();
  };

  const reject = (reason: FeedRejection, message: string, from: number) => {
    counts.rejected[reason]++;
    try {
      options.onRejected?.({ reason, message: message.slice(0, 200) });
    } catch {
      // the service's callback failing changes nothing of the feed
    }
    resync(from);
  };

  /** One message off the channel: applied only if Bulkhead signed it and it moves the feed forward. */
  const receive = async (message: string) => {
    const sinceLast = last.getTime() - overlapMs;
    let payload: Uint8Array;
    try {
      const verified = await compactVerify(message, keys, { algorithms: ['EdDSA'] });
      if (verified.protectedHeader.typ !== messageType) throw new Error('typ');
      payload = verified.payload;
    } catch {
      return reject('unverified', message, sinceLast);
    }
    let e: Event | null;
    try {
      e = eventOf(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)));
    } catch {
      e = null;
    }
    if (e === null) return reject('malformed', message, sinceLast);
    // Signed by Bulkhead, so its time is Bulkhead's: a late one is read again from there, from its time.
    const at = Date.parse(e.at);
    if (at > Date.now() + skewMs) return reject('future', message, sinceLast);
    if (e.seq <= lastSeq) {
      if (applied.has(e.seq)) {
        counts.duplicates++;
        return;
      }
      // From its time, but not from further back than a commit can plausibly lag (a replay of an old
      // message must not make every verifier read a day of revocations).
      return reject('stale', message, Math.max(Math.min(at, sinceLast), sinceLast - lateCommitMs));
    }
    // A seq skipped may be a rolled-back transaction, or a message lost: the list will tell.
    if (lastSeq > 0 && e.seq > lastSeq + 1) resync(sinceLast);
    counts.accepted++;
    apply(e);
  };

  // One message at a time, in the order they arrive: a verification that waits for the key set must not
  // let a later message overtake it and turn it stale.
  let queue = Promise.resolve();
  const redis = new (redisClass())(options.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // reconnects by itself; the catch-up after 'ready' closes any gap
  redis.on('message', (_channel: string, message: string) => {
    queue = queue.then(() => receive(message)).catch(() => undefined);
  });
  redis.on('ready', () => {
    const from = last.getTime() - overlapMs;
    void redis
      .subscribe(channel)
      .then(() => catchUp(from))
      // Bulkhead unreachable, or the credential refused: read again after the interval until it answers;
      // `ready` waits for the first read that does.
      .catch(() => resync(from));
  });

  return {
    isRevoked: (t) =>
      sessions.has(t.sessionId) || principals.has(t.subject) || domains.get(t.domainId)?.revoked === true,
    ready,
    counters: () => ({ ...counts, rejected: { ...counts.rejected } }),
    async close() {
      closed = true;
      if (resyncTimer !== null) clearTimeout(resyncTimer);
      resyncTimer = null;
      await redis.quit().catch(() => undefined);
    },
  };
}
