// Publishes every recorded revocation to a pub/sub channel for verifiers in other processes and
// services. It reads the revocations table (so it sees the revocations of every Bulkhead process sharing
// the store) with an overlapping window, and remembers what it sent, so a late commit is not missed.
import { revocationNotifyChannel, revocationsSince, type Revocation } from '../revocations.js';
import type { Store } from '../../store/store.js';

export const revocationChannel = 'bulkhead:revocations';

/** The one thing the publisher needs of a Redis client. */
export interface PublishClient {
  publish(channel: string, message: string): Promise<unknown>;
}

export class RevocationPublisher {
  private timer: NodeJS.Timeout | null = null;
  private readonly sent = new Map<number, number>(); // seq → time sent
  private since = new Date();
  private running = false;

  constructor(
    private readonly o: {
      store: Store;
      client: PublishClient;
      intervalMs?: number;
      overlapMs?: number;
      onError?: (e: unknown) => void;
    },
  ) {}

  /** One pass: publish what is new. */
  async tick(): Promise<Revocation[]> {
    const overlap = this.o.overlapMs ?? 5_000;
    const from = new Date(this.since.getTime() - overlap);
    const items = await this.o.store.system('revocations', (tx) => revocationsSince(tx, from));
    const fresh = items.filter((r) => !this.sent.has(r.seq));
    for (const r of fresh) {
      await this.o.client.publish(revocationChannel, JSON.stringify(r));
      this.sent.set(r.seq, Date.now());
    }
    const newest = items.at(-1);
    if (newest !== undefined && new Date(newest.at) > this.since) this.since = new Date(newest.at);
    for (const [seq, at] of this.sent) if (at < Date.now() - 4 * overlap) this.sent.delete(seq);
    return fresh;
  }

  private again = false;

  /** Runs a pass now, or right after the one in progress. */
  private poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.tick()
      .catch((error: unknown) => this.o.onError?.(error))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  /**
   * Publishes as soon as a revoking transaction commits (the store notifies), and polls as a fallback for
   * a notification lost with a dropped connection.
   */
  async start(): Promise<void> {
    this.stopListening = await this.o.store.listen(revocationNotifyChannel, () => this.poke());
    this.timer = setInterval(() => this.poke(), this.o.intervalMs ?? 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.stopListening?.();
    this.stopListening = null;
  }

  private stopListening: (() => Promise<void>) | null = null;
}
