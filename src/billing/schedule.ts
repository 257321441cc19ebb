// Closes each month on its own: once the month has ended and a grace time has passed (for usage
// reported late), the previous month is closed for every domain, as `POST /v1/billing/periods/{period}/close`
// would. Closing is idempotent per domain and month, so several servers running this, or a restart that
// runs it again, write each invoice once; a close a crash interrupted is finished by the next run.
import type { Actor } from '../policy/principal.js';
import { periodOf } from './periods.js';
import type { BillingService, CloseResult } from './service.js';

const actor: Actor = { actor: 'system:billing', requestId: null };

export interface CloserOptions {
  /** How long after a month's end its close waits, so that usage reported late still counts. */
  readonly afterMs: number;
  /** How often the closer looks whether a month is due. */
  readonly checkMs?: number;
  /** Told of each close, and of each failure (the next check tries again). */
  readonly onClose?: (result: CloseResult) => void;
  readonly onError?: (error: unknown) => void;
}

/** The month before the one `now` falls in, and the instant that month ended. */
export function previousPeriod(now: Date): { period: string; endedAt: Date } {
  const endedAt = new Date(0);
  endedAt.setUTCFullYear(now.getUTCFullYear(), now.getUTCMonth(), 1);
  return { period: periodOf(new Date(endedAt.getTime() - 1)), endedAt };
}

export class BillingCloser {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> = Promise.resolve();
  /** The last month this process closed completely: it is not closed again. */
  #closed: string | null = null;

  constructor(
    private readonly billing: BillingService,
    private readonly o: CloserOptions,
  ) {}

  /**
   * Closes the previous month if it is due and this process has not closed it yet; answers what the
   * close wrote, or null when nothing was due.
   */
  async tick(now: Date = new Date()): Promise<CloseResult | null> {
    const { period, endedAt } = previousPeriod(now);
    if (this.#closed === period || now.getTime() < endedAt.getTime() + this.o.afterMs) return null;
    const result = await this.billing.closePeriod(actor, period, now);
    this.#closed = period;
    return result;
  }

  /** Checks now and then every `checkMs`; a failed close is reported and tried at the next check. */
  start(): void {
    const check = () => {
      this.#running = this.tick().then(
        (result) => {
          if (result !== null) this.o.onClose?.(result);
        },
        (error: unknown) => this.o.onError?.(error),
      );
    };
    check();
    this.#timer = setInterval(check, this.o.checkMs ?? 10 * 60_000);
    this.#timer.unref();
  }

  /** Stops checking, after a close in progress has finished. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
