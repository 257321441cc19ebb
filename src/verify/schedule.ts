// Scheduled verification: one run at once, then one every interval (counted from each run's start; a
// run that takes longer is followed at once, never overlapped), until stopped. Stopping aborts the run
// in progress, which still removes its probe domains before the schedule ends. Every run is counted in
// the metrics and handed to the recorders; a run that could not be made is recorded as an error run.
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../config.js';
import { newId } from '../domain/ids.js';
import type { IsolationMetrics } from './metrics.js';
import type { VerifyReport } from './report.js';
import { runRecord, type RunRecorder, type VerifyRun } from './runs.js';
import { VerifyAborted } from './verify.js';

export interface ScheduleOptions {
  readonly everyMs: number;
  /** The target's name, for the record of a run that could not be made. */
  readonly target: string;
  /** Makes one run against a fresh target; when `signal` aborts it rejects with VerifyAborted. */
  readonly run: (signal: AbortSignal) => Promise<VerifyReport>;
  readonly recorders?: readonly RunRecorder[];
  readonly metrics?: IsolationMetrics;
  /** Called with each run once it is counted and recorded. */
  readonly onRun?: (run: VerifyRun, report: VerifyReport | null) => void;
  /** What does not stop the schedule: a record not written, a stopped run's leftovers. */
  readonly onWarning?: (message: string) => void;
  /**
   * When true, a ConfigError in the first run (the operator token refused, a document that cannot be
   * read) ends the schedule with that error instead of being recorded: the setup is wrong, not the target.
   */
  readonly failFast?: boolean;
}

export interface Schedule {
  /** Settles when the schedule has ended: after `stop`, or rejected by a first run's ConfigError. */
  readonly done: Promise<void>;
  /** Aborts the run in progress (its probe domains are still removed) and waits for the end. */
  stop(): Promise<void>;
}

/**
 * Starts running verification every `everyMs`.
 *
 * @example
 * const schedule = startSchedule({ everyMs: 3_600_000, target: url, run: (signal) => runVerify({ …, signal }) });
 * process.once('SIGTERM', () => void schedule.stop());
 */
export function startSchedule(options: ScheduleOptions): Schedule {
  const controller = new AbortController();
  const signal = controller.signal;
  const warn = options.onWarning ?? (() => {});

  async function once(first: boolean): Promise<number> {
    const startedAt = new Date();
    const id = newId('verifyRun', startedAt.getTime());
    let report: VerifyReport | null = null;
    let error: string | null = null;
    try {
      report = await options.run(signal);
    } catch (e) {
      if (e instanceof VerifyAborted) {
        for (const problem of e.cleanup) warn(`stopped run ${id}: not cleaned up: ${problem}`);
        return startedAt.getTime();
      }
      if (first && options.failFast === true && e instanceof ConfigError) throw e;
      error = (e as Error).message || String(e);
    }
    const run = runRecord({
      id,
      startedAt,
      finishedAt: new Date(),
      target: report?.target ?? options.target,
      outcome: report === null ? { error: error ?? 'unknown error' } : { report },
    });
    options.metrics?.observe(run, report);
    for (const recorder of options.recorders ?? []) {
      try {
        await recorder.record(run);
      } catch (e) {
        warn(`run ${id} was not recorded: ${(e as Error).message}`);
      }
    }
    options.onRun?.(run, report);
    return startedAt.getTime();
  }

  const done = (async () => {
    for (let first = true; !signal.aborted; first = false) {
      const started = await once(first);
      const wait = started + options.everyMs - Date.now();
      if (wait > 0 && !signal.aborted) await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  })();
  return {
    done,
    async stop() {
      controller.abort();
      await done.catch(() => undefined);
    },
  };
}
