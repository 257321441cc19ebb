// Prometheus metrics of the isolation runs made by this process: counters over runs and checks by
// verdict, and gauges of the last run. Only counts, times and verdict names: no domain, id, operation
// or answer ever becomes a label or a value, so the body holds no tenant data whoever scrapes it.
import { Counter, Gauge, Registry } from 'prom-client';
import type { VerifyReport, Verdict } from './report.js';
import type { RunVerdict, VerifyRun } from './runs.js';

const runVerdicts: readonly RunVerdict[] = ['clean', 'leak', 'incomplete', 'error'];
const checkVerdicts: readonly Verdict[] = ['pass', 'leak', 'inconclusive'];

/**
 * The isolation metrics on a registry of their own (one per server or scheduler, never global).
 *
 * @example
 * const metrics = new IsolationMetrics();
 * metrics.observe(run, report);
 * const body = await metrics.registry.metrics();
 */
export class IsolationMetrics {
  readonly registry = new Registry();
  private readonly runs = new Counter({
    name: 'bulkhead_isolation_runs_total',
    help: 'Isolation runs made by this process, by verdict (clean, leak, incomplete, error).',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  private readonly checks = new Counter({
    name: 'bulkhead_isolation_checks_total',
    help: 'Individual isolation checks made by this process, by verdict (pass, leak, inconclusive).',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  private readonly lastTimestamp = new Gauge({
    name: 'bulkhead_isolation_last_run_timestamp_seconds',
    help: 'When the last isolation run finished (Unix time); 0 before the first.',
    registers: [this.registry],
  });
  private readonly lastDuration = new Gauge({
    name: 'bulkhead_isolation_last_run_duration_seconds',
    help: 'How long the last isolation run took, setup and cleanup included.',
    registers: [this.registry],
  });
  private readonly lastLeaks = new Gauge({
    name: 'bulkhead_isolation_last_run_leaks',
    help: 'Leaks found by the last isolation run.',
    registers: [this.registry],
  });
  private readonly lastUnexercised = new Gauge({
    name: 'bulkhead_isolation_last_run_unexercised',
    help: 'Operations the last isolation run could not exercise (a failure like a leak).',
    registers: [this.registry],
  });
  private readonly lastSuccess = new Gauge({
    name: 'bulkhead_isolation_last_run_success',
    help: '1 when the last isolation run was clean, 0 when it found a leak, was incomplete or failed.',
    registers: [this.registry],
  });

  constructor() {
    // Every series exists from the start, so rate() and absence alerts work before the first leak.
    for (const verdict of runVerdicts) this.runs.inc({ verdict }, 0);
    for (const verdict of checkVerdicts) this.checks.inc({ verdict }, 0);
  }

  /** Counts one finished run; `report` is null for a run that could not be made. */
  observe(run: VerifyRun, report: VerifyReport | null): void {
    this.runs.inc({ verdict: run.verdict });
    if (report !== null) {
      const s = report.summary;
      this.checks.inc({ verdict: 'pass' }, s.checks - s.leaks - s.inconclusive);
      this.checks.inc({ verdict: 'leak' }, s.leaks);
      this.checks.inc({ verdict: 'inconclusive' }, s.inconclusive);
    }
    this.setLast(run);
  }

  /**
   * Sets the last-run gauges from a recorded run (the newest in the store, at start), so a restarted
   * server does not report "never ran" or hide a failed run; the counters stay this process's own.
   */
  restoreLast(run: VerifyRun): void {
    this.setLast(run);
  }

  private setLast(run: VerifyRun): void {
    const finished = Date.parse(run.finishedAt);
    this.lastTimestamp.set(finished / 1000);
    this.lastDuration.set((finished - Date.parse(run.startedAt)) / 1000);
    this.lastLeaks.set(run.leaks);
    this.lastUnexercised.set(run.unexercised);
    this.lastSuccess.set(run.verdict === 'clean' ? 1 : 0);
  }
}
