// Fair sharing between tenants: every domain has its own request rate (a token bucket) and its own number
// of requests in flight, so one domain's flood is refused with 429 before it can take the server's event
// loop or the store's connections from the others. Counted in this process: each server enforces its own
// share (docs/operating.md says how to size them behind a load balancer). The caller's domain comes from
// its credential, resolved before this is asked; the operator and anonymous callers are not counted here.
// A refused request writes nothing of its own (no audit event per request, which would make the flood
// write to the store): refusals are counted per domain and audited together, one event per domain per
// interval.

/** The limits of one domain; `requestsPerSecond` or `concurrentRequests` of 0 turns that limit off. */
export interface TenantLimitValues {
  /** Requests per second sustained. */
  readonly requestsPerSecond: number;
  /** Requests allowed at once above the sustained rate (the bucket's size). */
  readonly requestBurst: number;
  /** Requests of the domain being answered at the same time. */
  readonly concurrentRequests: number;
}

export const tenantLimitNames = ['requestsPerSecond', 'requestBurst', 'concurrentRequests'] as const;

/** The defaults when nothing is configured: generous for one tenant, small against the whole server. */
export const defaultTenantLimits: TenantLimitValues = {
  requestsPerSecond: 200,
  requestBurst: 400,
  concurrentRequests: 16,
};

/** A domain's limits: its pool's overrides over the configured defaults. */
export function effectiveLimits(
  defaults: TenantLimitValues,
  overrides: Readonly<Record<string, number>>,
): TenantLimitValues {
  return {
    requestsPerSecond: overrides['requestsPerSecond'] ?? defaults.requestsPerSecond,
    requestBurst: overrides['requestBurst'] ?? defaults.requestBurst,
    concurrentRequests: overrides['concurrentRequests'] ?? defaults.concurrentRequests,
  };
}

/** What the client is told about the rate limit (the RateLimit and RateLimit-Policy headers). */
export interface RateState {
  /** Requests per second of the policy (0: unlimited, no headers). */
  readonly limit: number;
  /** Requests that may be sent now without waiting. */
  readonly remaining: number;
  /** Seconds until at least one more request is allowed (0 when one is allowed now). */
  readonly reset: number;
}

export type Admission =
  | { readonly admitted: true; readonly rate: RateState; readonly release: () => void }
  | {
      readonly admitted: false;
      readonly reason: 'rate' | 'concurrency';
      readonly rate: RateState;
      /** Whole seconds to wait before trying again (at least 1). */
      readonly retryAfter: number;
    };

/** The client's view of a bucket holding `tokens` at `rate` requests per second. */
function rateState(rate: number, tokens: number): RateState {
  return rate === 0
    ? { limit: 0, remaining: 0, reset: 0 }
    : {
        limit: rate,
        remaining: Math.max(0, Math.floor(tokens)),
        reset: tokens >= 1 ? 0 : Math.ceil((1 - tokens) / rate),
      };
}

interface Bucket {
  tokens: number;
  at: number;
  inFlight: number;
}

interface CachedLimits {
  readonly values: TenantLimitValues;
  readonly until: number;
}

/** The refusals of one domain over one interval, audited as one event. */
export interface RefusalTally {
  readonly rate: number;
  readonly concurrency: number;
  /** When the first refusal of the interval was counted, and when the tally was taken (ISO 8601). */
  readonly since: string;
  readonly until: string;
}

export interface TenantLimitOptions {
  readonly defaults: TenantLimitValues;
  /** A domain's overrides from its pool; asked at most once per `cacheMs` per domain. */
  readonly overrides: (domainId: string) => Promise<Readonly<Record<string, number>>>;
  readonly cacheMs?: number;
  readonly now?: () => number;
  /** Records a domain's refusals of one interval (its audit event); nothing is recorded without it. */
  readonly recordRefusals?: (domainId: string, tally: RefusalTally) => Promise<void>;
  /** How long refusals are counted before they are recorded (default 10 s). */
  readonly refusalIntervalMs?: number;
  /**
   * How long a refusal is held before it is answered, at most (default 1000 ms; never longer than its
   * Retry-After; 0 answers at once). See `hold`.
   */
  readonly refusalHoldMs?: number;
}

/** The most refusals held at once for one domain, and for the whole server: beyond, they are answered at once. */
export const maxHeldPerDomain = 256;
export const maxHeldInAll = 4_096;

interface Tally {
  rate: number;
  concurrency: number;
  since: Date;
}

/**
 * The per-domain admission control of one server.
 *
 * @example
 * const limits = new TenantLimits({ defaults: defaultTenantLimits, overrides: async () => ({}) });
 * const admission = await limits.admit('dom_…');
 * if (admission.admitted) try { … } finally { admission.release(); }
 */
export class TenantLimits {
  private readonly buckets = new Map<string, Bucket>();
  private readonly cache = new Map<string, CachedLimits>();
  private readonly loading = new Map<string, Promise<TenantLimitValues>>();
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly refusalIntervalMs: number;
  private tallies = new Map<string, Tally>();
  private readonly held = new Map<string, number>();
  private heldInAll = 0;
  private readonly refusalHoldMs: number;
  private timer: NodeJS.Timeout | null = null;
  private recording: Promise<void> = Promise.resolve();

  constructor(private readonly o: TenantLimitOptions) {
    this.now = o.now ?? (() => performance.now());
    this.cacheMs = o.cacheMs ?? 5_000;
    this.refusalIntervalMs = o.refusalIntervalMs ?? 10_000;
    this.refusalHoldMs = o.refusalHoldMs ?? 1_000;
  }

  /**
   * Waits before a refusal of the domain is answered: up to `refusalHoldMs`, never past its Retry-After.
   * A client waits for the answer before it sends again on the same connection, so a flood is slowed to
   * about one request per connection per hold, and the server answers that many refusals instead of as
   * many as the flood can send; a refused client was told to wait that long anyway. Holding costs a
   * timer. At most `maxHeldPerDomain` refusals of a domain and `maxHeldInAll` in all are held at once;
   * beyond, they are answered at once.
   */
  async hold(domainId: string, retryAfterSeconds: number): Promise<void> {
    // Spread over the second half of the hold, so a flood's connections do not come back all at once.
    const ms = Math.min(this.refusalHoldMs, retryAfterSeconds * 1000) * (0.5 + Math.random() / 2);
    const now = this.held.get(domainId) ?? 0;
    if (ms <= 0 || now >= maxHeldPerDomain || this.heldInAll >= maxHeldInAll) return;
    this.held.set(domainId, now + 1);
    this.heldInAll++;
    try {
      await new Promise((resolve) => setTimeout(resolve, ms).unref());
    } finally {
      this.heldInAll--;
      const left = (this.held.get(domainId) ?? 1) - 1;
      if (left === 0) this.held.delete(domainId);
      else this.held.set(domainId, left);
    }
  }

  /** Refusals held now (for tests and metrics). */
  heldNow(domainId?: string): number {
    return domainId === undefined ? this.heldInAll : (this.held.get(domainId) ?? 0);
  }

  /** Forgets a domain's cached overrides, so a pool change applies from the next request. */
  forget(domainId: string): void {
    this.cache.delete(domainId);
    this.loading.delete(domainId);
  }

  /** The limits in force for a domain (cached; one read at a time per domain, however many ask). */
  limitsOf(domainId: string): Promise<TenantLimitValues> {
    const now = this.now();
    const cached = this.cache.get(domainId);
    if (cached !== undefined && cached.until > now) return Promise.resolve(cached.values);
    const pending = this.loading.get(domainId);
    if (pending !== undefined) return pending;
    const loading: Promise<TenantLimitValues> = this.o.overrides(domainId).then(
      (overrides) => {
        const values = effectiveLimits(this.o.defaults, overrides);
        // A pool change forgotten meanwhile (`forget`) is read again by the next request, not overwritten.
        if (this.loading.get(domainId) === loading) {
          this.loading.delete(domainId);
          this.cache.set(domainId, { values, until: now + this.cacheMs });
          if (this.cache.size > 10_000) this.prune(now);
        }
        return values;
      },
      (error: unknown) => {
        if (this.loading.get(domainId) === loading) this.loading.delete(domainId);
        throw error;
      },
    );
    this.loading.set(domainId, loading);
    return loading;
  }

  /** Takes one request of the domain's share, or says how long to wait. */
  async admit(domainId: string): Promise<Admission> {
    const limits = await this.limitsOf(domainId);
    const bucket = this.refill(domainId, limits);
    const refusal = this.refusal(domainId, limits, bucket);
    if (refusal !== null) return refusal;
    if (limits.requestsPerSecond > 0) bucket.tokens -= 1;
    bucket.inFlight += 1;
    let released = false;
    return {
      admitted: true,
      rate: rateState(limits.requestsPerSecond, bucket.tokens),
      release: () => {
        if (released) return;
        released = true;
        bucket.inFlight -= 1;
      },
    };
  }

  /**
   * The refusal `admit` would answer now, for a caller that has not yet done the work that proves its
   * request is the domain's (a provisioning key read from the store): counted like any refusal, so the
   * request can be refused before that work. Null when the domain's limits are not in memory or a request
   * would be admitted; it takes nothing, so the request is then admitted (or not) by `admit` as usual.
   * Limits past their time are read again in the background and serve meanwhile: a pool change made
   * through this process is forgotten at once (`forget`), one made through another is seen as `admit`
   * sees it, within `cacheMs` and a read.
   */
  refuseEarly(domainId: string): Extract<Admission, { admitted: false }> | null {
    const cached = this.cache.get(domainId);
    if (cached === undefined) return null;
    if (cached.until <= this.now()) this.limitsOf(domainId).catch(() => undefined);
    return this.refusal(domainId, cached.values, this.refill(domainId, cached.values));
  }

  /** The domain's bucket, filled up to now at its rate. */
  private refill(domainId: string, limits: TenantLimitValues): Bucket {
    const now = this.now();
    const rate = limits.requestsPerSecond;
    const size = Math.max(1, limits.requestBurst);
    let bucket = this.buckets.get(domainId);
    if (bucket === undefined) {
      bucket = { tokens: size, at: now, inFlight: 0 };
      this.buckets.set(domainId, bucket);
      if (this.buckets.size > 10_000) this.prune(now);
    } else if (rate > 0) {
      bucket.tokens = Math.min(size, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
    }
    return bucket;
  }

  /** Why a request of the domain is refused now (counted), or null when it would be admitted. */
  private refusal(
    domainId: string,
    limits: TenantLimitValues,
    bucket: Bucket,
  ): Extract<Admission, { admitted: false }> | null {
    const rate = limits.requestsPerSecond;
    if (rate > 0 && bucket.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
      this.count(domainId, 'rate');
      return { admitted: false, reason: 'rate', rate: rateState(rate, bucket.tokens), retryAfter: wait };
    }
    if (limits.concurrentRequests > 0 && bucket.inFlight >= limits.concurrentRequests) {
      // A request in flight ends within its own time; a second is what a client can act on.
      this.count(domainId, 'concurrency');
      return { admitted: false, reason: 'concurrency', rate: rateState(rate, bucket.tokens), retryAfter: 1 };
    }
    return null;
  }

  /**
   * Records the refusals counted so far, one call of `recordRefusals` per domain, and starts a new
   * interval. Runs by itself once per interval after a refusal; call it on shutdown, and in tests.
   * A domain whose record failed keeps its count for the next interval.
   */
  recordRefusals(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const tallies = this.tallies;
    this.tallies = new Map();
    const record = this.o.recordRefusals;
    const until = new Date();
    this.recording = this.recording.then(async () => {
      if (record === undefined) return;
      for (const [domainId, tally] of tallies) {
        try {
          await record(domainId, {
            rate: tally.rate,
            concurrency: tally.concurrency,
            since: tally.since.toISOString(),
            until: until.toISOString(),
          });
        } catch {
          const now = this.tallies.get(domainId);
          this.tallies.set(domainId, {
            rate: tally.rate + (now?.rate ?? 0),
            concurrency: tally.concurrency + (now?.concurrency ?? 0),
            since: tally.since,
          });
          this.schedule();
        }
      }
    });
    return this.recording;
  }

  private count(domainId: string, reason: 'rate' | 'concurrency'): void {
    if (this.o.recordRefusals === undefined) return;
    let tally = this.tallies.get(domainId);
    if (tally === undefined) {
      tally = { rate: 0, concurrency: 0, since: new Date() };
      this.tallies.set(domainId, tally);
    }
    tally[reason] += 1;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null || this.o.recordRefusals === undefined) return;
    this.timer = setTimeout(() => void this.recordRefusals(), this.refusalIntervalMs);
    this.timer.unref();
  }

  /** Requests of a domain in flight now (for tests and metrics). */
  inFlight(domainId: string): number {
    return this.buckets.get(domainId)?.inFlight ?? 0;
  }

  /** Drops idle domains' state: a full bucket with nothing in flight is the same as no bucket. */
  private prune(now: number): void {
    for (const [id, cached] of this.cache) if (cached.until <= now) this.cache.delete(id);
    for (const [id, bucket] of this.buckets) {
      const limits = this.cache.get(id)?.values ?? this.o.defaults;
      const full =
        limits.requestsPerSecond === 0 ||
        bucket.tokens + ((now - bucket.at) / 1000) * limits.requestsPerSecond >= limits.requestBurst;
      if (bucket.inFlight === 0 && full) this.buckets.delete(id);
    }
  }
}
