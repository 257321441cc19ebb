// What Bulkhead meters as it runs, beside resource time (which a close computes): the API requests made
// with each domain's credentials, and the bytes each domain stores in storage areas and volumes.
//
// Requests are counted in memory, per domain and per window of `requestWindowMs` aligned on the epoch,
// and written when the window has ended (and, for the current one, when the server stops) as usage of
// `api.requests` with the event id `requests:<serverId>:<window start>`: a write that is retried, or a
// flush that runs twice, writes the same record, which counts once; another server counts its own
// requests under its own id. A request counts for the domain of the credential that made it, even when a
// grant lets it act in another domain: the acting domain pays.
//
// Stored bytes are sampled every `storageWindowMs`, aligned the same way, and recorded as `storage.bytes`
// in byte-hours (bytes × the window's length in hours, rounded down) under the event id
// `storage:<window start>`: every server sampling the same window writes the same id, so it counts once.
import { BulkheadError } from '../errors.js';
import { storageAreasStatement, volumeBytesStatement } from '../store/repositories/billing.js';
import type { Store } from '../store/store.js';
import type { BillingService } from './service.js';

/** Where the sampler learns what each domain stores. */
export interface StoredBytesSource {
  /** Every domain that stores anything, with its bytes now. */
  storedBytes(): Promise<ReadonlyMap<string, bigint>>;
}

/**
 * What each domain stores now: the size of its volumes that are not deleted, and the bytes its ready
 * storage areas hold (`measure`, the object providers' count). Found in the system context, since it
 * spans domains; each domain's usage is then recorded in its own transaction.
 */
export function storedBytesIn(
  store: Store,
  measure: (ref: { readonly domainId: string; readonly resourceId: string }) => Promise<number>,
): StoredBytesSource {
  return {
    async storedBytes() {
      const [volumes, areas] = await store.systemRead('billing', (db) => [
        volumeBytesStatement(db),
        storageAreasStatement(db),
      ]);
      const bytes = new Map<string, bigint>();
      const add = (domainId: string, n: bigint) => bytes.set(domainId, (bytes.get(domainId) ?? 0n) + n);
      for (const v of volumes) add(v.domain_id, BigInt(v.bytes));
      for (const area of areas) {
        const used = await measure({ domainId: area.domain_id, resourceId: area.id }).catch(() => 0);
        add(area.domain_id, BigInt(used));
      }
      return bytes;
    },
  };
}

export interface UsageMeterOptions {
  readonly billing: BillingService;
  /** Names this process in the request meter's event ids: unique per process. */
  readonly serverId: string;
  readonly source: StoredBytesSource;
  readonly onError?: (error: unknown, what: string) => void;
}

/** The meters Bulkhead records itself (no price book entry needed: unpriced, they are billed at 0). */
export const requestMeter = 'api.requests';
export const storageMeter = 'storage.bytes';
/** The most windows of request counts kept while the store does not take them, before the oldest go. */
const maxPendingWindows = 1_000;

export class UsageMeter {
  private readonly billing: BillingService;
  readonly serverId: string;
  private readonly source: StoredBytesSource;
  /** Told of a write or a sample that failed (the server logs it). */
  onError: (error: unknown, what: string) => void;
  private requestWindowMs = 60_000;
  /** Counts by window start, then by domain. */
  private readonly counts = new Map<number, Map<string, number>>();
  private currentWindow = -1;
  private current = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> = Promise.resolve();

  constructor(options: UsageMeterOptions) {
    this.billing = options.billing;
    this.serverId = options.serverId;
    this.source = options.source;
    this.onError = options.onError ?? (() => {});
  }

  /** Counts one request made with a credential of `domainId`. On the request path: a map increment. */
  countRequest(domainId: string): void {
    const now = Date.now();
    if (now - this.currentWindow >= this.requestWindowMs || now < this.currentWindow) {
      this.currentWindow = now - (now % this.requestWindowMs);
      let counts = this.counts.get(this.currentWindow);
      if (counts === undefined) this.counts.set(this.currentWindow, (counts = new Map<string, number>()));
      this.current = counts;
    }
    this.current.set(domainId, (this.current.get(domainId) ?? 0) + 1);
  }

  /** Starts flushing request counts every `requestWindowMs` and sampling stored bytes every `storageWindowMs`. */
  start(requestWindowMs: number, storageWindowMs: number): void {
    this.requestWindowMs = requestWindowMs;
    this.currentWindow = -1;
    const flush = setInterval(() => void this.flush(false), requestWindowMs);
    const sample = setInterval(
      () => void this.sampleStorage().catch((error: unknown) => this.onError(error, 'storage sample')),
      storageWindowMs,
    );
    flush.unref();
    sample.unref();
    this.timers = [flush, sample];
    this.storageWindowMs = storageWindowMs;
  }

  private storageWindowMs = 3_600_000;

  /** Stops the timers and writes every count, the current window's too (at shutdown). */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.flush(true);
  }

  /**
   * Writes the counts of every window that has ended (every window with `all`), one usage record per
   * domain and window. A count the store did not take stays, to be written again under the same event id.
   */
  flush(all: boolean): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow(all));
    return this.flushing;
  }

  private async flushNow(all: boolean): Promise<void> {
    const now = Date.now();
    for (const [window, counts] of [...this.counts]) {
      if (!all && window + this.requestWindowMs > now) continue;
      if (window === this.currentWindow) this.currentWindow = -1;
      for (const [domainId, quantity] of [...counts]) {
        try {
          await this.billing.recordOwnUsage(domainId, {
            eventId: `requests:${this.serverId}:${window}`,
            meter: requestMeter,
            quantity: BigInt(quantity),
            at: new Date(window),
            source: 'requests',
          });
          counts.delete(domainId);
        } catch (error) {
          // A domain that is gone (or a malformed id) will never take it; anything else is tried again.
          if (error instanceof BulkheadError && error.status < 500) counts.delete(domainId);
          this.onError(error, 'request meter flush');
        }
      }
      if (counts.size === 0) this.counts.delete(window);
    }
    while (this.counts.size > maxPendingWindows) this.counts.delete(this.counts.keys().next().value!);
  }

  /**
   * Samples what each domain stores and records it for the window `at` falls in, in byte-hours for the
   * whole window. Answers how many domains it recorded for.
   */
  async sampleStorage(at: Date = new Date()): Promise<number> {
    const window = at.getTime() - (at.getTime() % this.storageWindowMs);
    const bytes = await this.source.storedBytes();
    let recorded = 0;
    for (const [domainId, stored] of bytes) {
      const byteHours = (stored * BigInt(this.storageWindowMs)) / 3_600_000n;
      if (byteHours <= 0n) continue;
      try {
        if (
          await this.billing.recordOwnUsage(domainId, {
            eventId: `storage:${window}`,
            meter: storageMeter,
            quantity: byteHours,
            at: new Date(window),
            source: 'storage',
          })
        )
          recorded++;
      } catch (error) {
        this.onError(error, 'storage sample');
      }
    }
    return recorded;
  }

  /** For tests: sets the windows without starting timers. */
  configure(requestWindowMs: number, storageWindowMs: number): void {
    this.requestWindowMs = requestWindowMs;
    this.storageWindowMs = storageWindowMs;
    this.currentWindow = -1;
  }
}
