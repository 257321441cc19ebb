// What lets a process keep something in memory that a committed change elsewhere can make wrong (the
// tokens it verified, the domains of the keys it verified): it listens on the change's channel and
// forgets everything at each change heard, and while it might not hear one (before listening works, and
// whenever the connection is lost) it must remember nothing. With the notice key every process shares,
// only a sealed notice counts, once: Bulkhead's own never arrive bare (their records are small), and
// anyone else connected to the database could send bare, forged or replayed ones in a loop to keep the
// memory empty. With a key of the process's own, the other processes' changes arrive bare: any notice.
import type { Store } from './store.js';

export interface NoticeWatchOptions<Id> {
  readonly store: Pick<Store, 'listen' | 'sharedNoticeKey'>;
  readonly channel: string;
  /** The id of the change a sealed notice carries (a replay carries one heard already), or null. */
  readonly idOf: (payload: string | null) => Id | null;
  /** Empties the memory: called at each change heard, and when listening starts or stops. */
  readonly forget: () => void;
  /** How many ids of changes heard lately are kept to tell a replay (default 10,000). */
  readonly remembered?: number;
}

export class NoticeWatch<Id> {
  // The changes heard lately (oldest first), so a notice replayed is not heard twice.
  private readonly heard = new Set<Id>();
  private up = false;
  private watch: Promise<(() => Promise<void>) | null> | null = null;
  private closed = false;

  constructor(private readonly o: NoticeWatchOptions<Id>) {}

  /** True while every change is heard: only then may the memory hold anything. */
  get hearing(): boolean {
    return this.up;
  }

  /** Starts listening, once; a failed start is tried again at the next call. */
  start(): void {
    if (this.watch !== null || this.closed) return;
    const { store, channel, idOf, forget } = this.o;
    const remembered = this.o.remembered ?? 10_000;
    this.watch = store
      .listen(
        channel,
        (payload) => {
          const id = idOf(payload);
          if (id === null) {
            if (!store.sharedNoticeKey) forget();
            return;
          }
          if (this.heard.has(id)) return;
          this.heard.add(id);
          if (this.heard.size > remembered) this.heard.delete(this.heard.values().next().value!);
          forget();
        },
        {
          ownCommits: true,
          onConnection: (up) => {
            forget();
            this.up = up;
          },
        },
      )
      .catch(() => {
        this.watch = null; // the next start tries again
        return null;
      });
  }

  /** Stops listening, and forgets. */
  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    this.o.forget();
    const stop = await this.watch;
    await stop?.();
  }
}

/** The JSON object a notice's payload holds, or null (a bare notice, or one that holds no object). */
export function noticeObject(payload: string | null): Record<string, unknown> | null {
  if (payload === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
}
