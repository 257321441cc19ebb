// Publishes every recorded revocation to a pub/sub channel for verifiers in other processes and
// services. A revoking transaction's notice carries the record, which is published as soon as it arrives;
// the revocations table (which holds the revocations of every Bulkhead process sharing the store) is read
// with an overlapping window for a notice that came bare, and every second as a fallback for a lost one.
// Each seq is claimed before it is sent, so nothing goes out twice, and a record a notice carries never
// overtakes one that only the table could supply (a suspension and a resumption must arrive in order).
// Every message is signed (see feed-keys.ts): the channel is open to whoever may publish on that Redis.
import {
  revocationFromNotice,
  revocationNotifyChannel,
  revocationsSince,
  type Revocation,
} from '../revocations.js';
import type { Store } from '../../store/store.js';

export const revocationChannel = 'bulkhead:revocations';

/** A notice arrives moments after its commit, or waits for a read of the table; a minute is ample. */
const noticeGraceMs = 60_000;

/** The one thing the publisher needs of a Redis client. */
export interface PublishClient {
  publish(channel: string, message: string): Promise<unknown>;
}

/** Turns a revocation into the message verifiers accept: a compact JWS (FeedKeys.sign). Synchronous. */
export interface FeedSigner {
  sign(r: Revocation): string;
}

export class RevocationPublisher {
  private timer: NodeJS.Timeout | null = null;
  // seq → the revocation's time and when it was claimed. A seq is forgotten only once no read can return
  // it (the window has passed its time) and no notice can still bring it (claimed a while ago).
  private readonly sent = new Map<number, { at: number; claimed: number }>();
  private since = new Date();
  private running = false;
  private again = false;
  // A bare notice stands for a revocation only the table can tell (so does a failed send or read); until
  // a read that began after it is done, the records later notices carry wait here, so as not to overtake.
  private catchingUp = false;
  private held: Revocation[] = [];

  constructor(
    private readonly o: {
      store: Store;
      client: PublishClient;
      signer: FeedSigner;
      intervalMs?: number;
      overlapMs?: number;
      onError?: (e: unknown) => void;
      /** Hears of each revocation sent: seconds from its record to its publication (for metrics). */
      onPublished?: (lagSeconds: number) => void;
    },
  ) {}

  /** Sends `r` unless its seq has been claimed; a failed send gives the claim back for the next read. */
  private async publish(r: Revocation): Promise<boolean> {
    if (this.sent.has(r.seq)) return false;
    this.sent.set(r.seq, { at: Date.parse(r.at), claimed: Date.now() });
    try {
      await this.o.client.publish(revocationChannel, this.o.signer.sign(r));
    } catch (error) {
      this.sent.delete(r.seq);
      throw error;
    }
    this.o.onPublished?.((Date.now() - Date.parse(r.at)) / 1000);
    return true;
  }

  /** One pass over the table: publish what is new. */
  async tick(): Promise<Revocation[]> {
    const overlap = this.o.overlapMs ?? 5_000;
    const from = new Date(this.since.getTime() - overlap);
    const items = await this.o.store.system('revocations', (tx) => revocationsSince(tx, from));
    const fresh: Revocation[] = [];
    for (const r of items) if (await this.publish(r)) fresh.push(r);
    const newest = items.at(-1);
    if (newest !== undefined && new Date(newest.at) > this.since) this.since = new Date(newest.at);
    const floor = this.since.getTime() - overlap;
    const settled = Date.now() - noticeGraceMs;
    for (const [seq, { at, claimed }] of this.sent)
      if (at < floor && claimed < settled) this.sent.delete(seq);
    return fresh;
  }

  /** Runs a pass now, or right after the one in progress. */
  private poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.tick()
      .then(
        () => true,
        (error: unknown) => {
          this.o.onError?.(error);
          this.catchingUp = true; // the next poll reads again
          return false;
        },
      )
      .then((read) => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.poke();
        } else if (read && this.catchingUp) {
          this.catchingUp = false;
          const held = this.held;
          this.held = [];
          for (const r of held) this.send(r);
        }
      });
  }

  private send(r: Revocation): void {
    this.publish(r).catch((error: unknown) => {
      this.o.onError?.(error);
      this.catchUp();
    });
  }

  /** Holds carried records until the table has been read again. */
  private catchUp(): void {
    this.catchingUp = true;
    this.poke(); // after the pass under way, which may have read before the latest commit
  }

  /** A committed transaction's notice: publish the record it carries, or read the table for it. */
  private notice(payload: string | null): void {
    const r = revocationFromNotice(payload);
    if (r === null) this.catchUp();
    else if (this.catchingUp) this.held.push(r);
    else this.send(r);
  }

  /**
   * Publishes as soon as a revoking transaction commits (the store notifies), and polls as a fallback for
   * a notification lost with a dropped connection.
   */
  async start(): Promise<void> {
    this.stopListening = await this.o.store.listen(revocationNotifyChannel, (payload) =>
      this.notice(payload),
    );
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
