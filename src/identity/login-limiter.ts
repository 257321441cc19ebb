// Counts failed logins per account and per client address in a sliding window, so guessing is
// slowed without telling an attacker which names exist. An account is counted under its canonical key
// (src/identity/names.ts: the domain's id and the canonical email or client id), so every spelling of it
// shares one count. Kept in this process; put several servers behind one rate limiter (or sticky
// routing) to share the count.
import type { AccountKey } from './names.js';

export interface LimiterOptions {
  readonly windowMs: number;
  readonly maxPerName: number;
  readonly maxPerAddress: number;
}

/** One of the limiter's counts, as the RateLimit headers give it. */
export interface LimitCount {
  readonly name: 'account' | 'address';
  readonly quota: number;
  readonly remaining: number;
  readonly reset: number;
}

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly o: LimiterOptions = { windowMs: 15 * 60_000, maxPerName: 10, maxPerAddress: 50 },
  ) {}

  private recent(key: string, now: number): number[] {
    const kept = (this.failures.get(key) ?? []).filter((t) => t > now - this.o.windowMs);
    if (kept.length === 0) this.failures.delete(key);
    else this.failures.set(key, kept);
    return kept;
  }

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfter(account: AccountKey, address: string, now = Date.now()): number {
    const byName = this.recent(`n:${account}`, now);
    const byAddress = this.recent(`a:${address}`, now);
    const blocked = [
      byName.length >= this.o.maxPerName ? byName[0]! : null,
      byAddress.length >= this.o.maxPerAddress ? byAddress[0]! : null,
    ].filter((t): t is number => t !== null);
    if (blocked.length === 0) return 0;
    return Math.ceil((Math.max(...blocked) + this.o.windowMs - now) / 1000);
  }

  /**
   * What is left of each count for the RateLimit headers: the failures each may still take in the
   * window, and the seconds until its oldest failure leaves it (0 with none).
   */
  state(
    account: AccountKey,
    address: string,
    now = Date.now(),
  ): { readonly windowSeconds: number; readonly counts: readonly LimitCount[] } {
    const count = (name: 'account' | 'address', kept: number[], quota: number): LimitCount => ({
      name,
      quota,
      remaining: Math.max(0, quota - kept.length),
      reset: kept.length === 0 ? 0 : Math.max(0, Math.ceil((kept[0]! + this.o.windowMs - now) / 1000)),
    });
    return {
      windowSeconds: Math.ceil(this.o.windowMs / 1000),
      counts: [
        count('account', this.recent(`n:${account}`, now), this.o.maxPerName),
        count('address', this.recent(`a:${address}`, now), this.o.maxPerAddress),
      ],
    };
  }

  fail(account: AccountKey, address: string, now = Date.now()): void {
    for (const key of [`n:${account}`, `a:${address}`])
      this.failures.set(key, [...this.recent(key, now), now]);
  }
}
