// Keeps a verifier's view of revocations current: subscribes to Bulkhead's revocation channel and, on
// every (re)connect, catches up over HTTP from a little before the last event it saw. Answers in
// memory, so a verification never waits on the network.
import { Redis } from 'ioredis';

export interface RevocationFeedOptions {
  /** Bulkhead's base URL, for the catch-up read (`/v1/revocations`). */
  readonly bulkheadUrl: string;
  /** The Redis Bulkhead publishes to (its BULKHEAD_REDIS_URL). */
  readonly redisUrl: string;
  /** How far back the first catch-up reads (default 24 h, longer than any session). */
  readonly historySeconds?: number;
  /**
   * Called after each revocation is applied (live or caught up; possibly more than once for one event),
   * for a service that holds something of its own to end at once: open WebSockets, streams, caches.
   */
  readonly onRevocation?: (event: RevocationEvent) => void;
}

/** A revocation as the feed applies it: `target` is a session, principal or domain id by `kind`. */
export interface RevocationEvent {
  readonly kind: 'session' | 'principal' | 'domain' | 'domain_restored';
  readonly target: string;
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
  close(): Promise<void>;
}

const channel = 'bulkhead:revocations';

/**
 * @example
 * const feed = createRevocationFeed({ bulkheadUrl: 'https://bulkhead.example', redisUrl: 'redis://cache:6379' });
 * const verifier = createVerifier({ issuer, jwksUri, isRevoked: (t) => feed.isRevoked(t) });
 */
export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const base = new URL(options.bulkheadUrl).toString().replace(/\/+$/, '');
  const sessions = new Set<string>();
  const principals = new Set<string>();
  // A domain can be suspended and resumed again: its state is that of its newest event by seq, whatever
  // order the events arrive in (pub/sub and catch-up can deliver them out of order). Sessions and
  // principals only ever get revoked, so applying one twice or late changes nothing.
  const domains = new Map<string, { seq: number; revoked: boolean }>();
  let last = new Date(Date.now() - (options.historySeconds ?? 86_400) * 1000);

  const apply = (e: Event) => {
    if (!Number.isSafeInteger(e.seq) || typeof e.target !== 'string') return;
    if (e.kind === 'session') sessions.add(e.target);
    else if (e.kind === 'principal') principals.add(e.target);
    else if (e.kind === 'domain' || e.kind === 'domain_restored') {
      const known = domains.get(e.target);
      if (known === undefined || known.seq < e.seq)
        domains.set(e.target, { seq: e.seq, revoked: e.kind === 'domain' });
    } else return;
    const at = new Date(e.at);
    if (at > last) last = at;
    try {
      options.onRevocation?.({ kind: e.kind, target: e.target });
    } catch {
      // the service's callback failing changes nothing of the feed
    }
  };

  const catchUp = async () => {
    const since = new Date(last.getTime() - 5_000).toISOString();
    const response = await fetch(`${base}/v1/revocations?since=${encodeURIComponent(since)}`);
    if (!response.ok) throw new Error(`catch-up failed: HTTP ${response.status}`);
    const { items } = (await response.json()) as { items: Event[] };
    for (const e of items) apply(e);
  };

  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // reconnects by itself; the catch-up after 'ready' closes any gap
  redis.on('message', (_channel: string, message: string) => {
    try {
      apply(JSON.parse(message) as Event);
    } catch {
      // a malformed message is ignored; the next catch-up brings the truth
    }
  });
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  redis.on('ready', () => {
    void redis
      .subscribe(channel)
      .then(catchUp)
      .then(resolveReady, () => undefined);
  });

  return {
    isRevoked: (t) =>
      sessions.has(t.sessionId) || principals.has(t.subject) || domains.get(t.domainId)?.revoked === true,
    ready,
    async close() {
      await redis.quit().catch(() => undefined);
    },
  };
}
