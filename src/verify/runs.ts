// The record kept of every isolation run: when it ran, against what, the verdict and the counts, and a
// bounded digest of what went wrong (leaks, operations not exercised, what was not cleaned up) — never
// the whole report, which holds every check. Records go to the store (a system table, with an audit
// event for a failed run in the same transaction) or to a JSON lines file when there is no store.
import { appendFile, open, readFile } from 'node:fs/promises';
import { appendAudit } from '../audit/log.js';
import { ConfigError } from '../config.js';
import { insertVerifyRun, pruneVerifyRuns, verifyRuns } from '../store/repositories/verify-runs.js';
import type { SystemTx } from '../store/store.js';
import type { VerifyRunRow, VerifyRunVerdict } from '../store/schema.js';
import { attackLabel, type VerifyReport } from './report.js';

export type RunVerdict = VerifyRunVerdict;

/** What went wrong in a run, bounded in size: a list longer than its limit keeps its first entries. */
export interface RunDigest {
  readonly spec: string;
  readonly elapsedMs: number;
  readonly leaks: {
    readonly operation: string;
    readonly attack: string;
    readonly credential: string | null;
    readonly got: string;
  }[];
  readonly unexercised: { readonly operation: string; readonly reason: string | null }[];
  readonly cleanup: string[];
  /** How many entries of each list were left out. */
  readonly omitted: { readonly leaks: number; readonly unexercised: number; readonly cleanup: number };
}

export interface VerifyRun {
  /** `vrn_…`, ordered by start. */
  readonly id: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly target: string;
  /** `clean`: no leak and every operation exercised; `error`: the run could not be made at all. */
  readonly verdict: RunVerdict;
  /** Tenant operations (and backends) that should be exercised: every one but the not applicable. */
  readonly operations: number;
  readonly exercised: number;
  readonly unexercised: number;
  readonly checks: number;
  readonly leaks: number;
  readonly inconclusive: number;
  /** Why an `error` run could not be made. */
  readonly error: string | null;
  readonly report: RunDigest | null;
}

const maxEntries = { leaks: 50, unexercised: 50, cleanup: 20 } as const;
const maxText = 500;
/** Runs kept in the store; older ones are removed as new ones are recorded. */
export const keptRuns = 1000;

const clip = (text: string, max = maxText) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function bounded<T>(list: readonly T[], max: number): { items: T[]; omitted: number } {
  return { items: list.slice(0, max), omitted: Math.max(0, list.length - max) };
}

/** The verdict of a report, as the summary line says it. */
export function verdictOf(report: VerifyReport): RunVerdict {
  return report.summary.leaks > 0 ? 'leak' : report.summary.skipped > 0 ? 'incomplete' : 'clean';
}

/**
 * The record of one run: from its report, or from the error that stopped it.
 *
 * @example
 * const run = runRecord({ id, startedAt, finishedAt: new Date(), target: url, outcome: { report } });
 */
export function runRecord(input: {
  id: string;
  startedAt: Date;
  finishedAt: Date;
  target: string;
  outcome: { report: VerifyReport } | { error: string };
}): VerifyRun {
  const base = {
    id: input.id,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    target: clip(input.target, 2048),
  };
  if ('error' in input.outcome) {
    return {
      ...base,
      verdict: 'error',
      operations: 0,
      exercised: 0,
      unexercised: 0,
      checks: 0,
      leaks: 0,
      inconclusive: 0,
      error: clip(input.outcome.error, 2000),
      report: null,
    };
  }
  const report = input.outcome.report;
  const s = report.summary;
  const leaks = bounded(
    report.checks
      .filter((c) => c.verdict === 'leak')
      .map((c) => ({
        operation: clip(c.operation),
        attack: attackLabel(c),
        credential: c.credential,
        got: clip(c.got),
      })),
    maxEntries.leaks,
  );
  const unexercised = bounded(
    report.operations
      .filter((o) => o.coverage === 'skipped')
      .map((o) => ({ operation: clip(o.operation), reason: o.reason === null ? null : clip(o.reason) })),
    maxEntries.unexercised,
  );
  const cleanup = bounded(
    report.cleanup.map((c) => clip(c)),
    maxEntries.cleanup,
  );
  return {
    ...base,
    verdict: verdictOf(report),
    operations: s.operations - s.notApplicable,
    exercised: s.exercised,
    unexercised: s.skipped,
    checks: s.checks,
    leaks: s.leaks,
    inconclusive: s.inconclusive,
    error: null,
    report: {
      spec: clip(report.spec, 2048),
      elapsedMs: report.elapsedMs,
      leaks: leaks.items,
      unexercised: unexercised.items,
      cleanup: cleanup.items,
      omitted: { leaks: leaks.omitted, unexercised: unexercised.omitted, cleanup: cleanup.omitted },
    },
  };
}

function fromRow(row: VerifyRunRow): VerifyRun {
  return {
    id: row.id,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at.toISOString(),
    target: row.target,
    verdict: row.verdict,
    operations: row.operations,
    exercised: row.exercised,
    unexercised: row.unexercised,
    checks: row.checks,
    leaks: row.leaks,
    inconclusive: row.inconclusive,
    error: row.error,
    report: row.report as RunDigest | null,
  };
}

/**
 * Stores a run, removes runs beyond the newest `keep` (default `keptRuns`), and — for a run that is not clean — appends
 * a `verify.failed` event to the audit log, all in the caller's transaction. Runs belong to no domain,
 * so the event is a system event (no domain), like the operator's own.
 */
export async function recordRun(
  tx: SystemTx,
  run: VerifyRun,
  actor: string,
  keep: number = keptRuns,
): Promise<void> {
  await insertVerifyRun(tx, {
    id: run.id,
    started_at: new Date(run.startedAt),
    finished_at: new Date(run.finishedAt),
    target: run.target,
    verdict: run.verdict,
    operations: run.operations,
    exercised: run.exercised,
    unexercised: run.unexercised,
    checks: run.checks,
    leaks: run.leaks,
    inconclusive: run.inconclusive,
    error: run.error,
    report: run.report === null ? null : JSON.stringify(run.report),
  });
  await pruneVerifyRuns(tx, keep);
  if (run.verdict === 'clean') return;
  await appendAudit(tx, {
    actor,
    requestId: null,
    domainId: null,
    action: 'verify.failed',
    target: run.id,
    outcome: 'failure',
    detail: {
      verdict: run.verdict,
      target: run.target,
      leaks: run.leaks,
      unexercised: run.unexercised,
      checks: run.checks,
      ...(run.error === null ? {} : { error: run.error }),
    },
  });
}

/** The newest runs first; `before` (a run id) pages back from there. */
export async function listRuns(
  tx: SystemTx,
  options: { limit?: number | undefined; before?: string | undefined } = {},
): Promise<VerifyRun[]> {
  const rows = await verifyRuns(tx, { limit: options.limit ?? 20, before: options.before });
  return rows.map(fromRow);
}

/** Where a scheduler puts each run's record. */
export interface RunRecorder {
  record(run: VerifyRun): Promise<void>;
}

/**
 * Appends each run as one JSON line to `path` (created owner-only). The file is opened once here, so a
 * path that cannot be written is refused before the first run.
 *
 * @example
 * const recorder = await fileRecorder('/var/lib/bulkhead/verify-runs.jsonl');
 */
export async function fileRecorder(path: string): Promise<RunRecorder> {
  try {
    await (await open(path, 'a', 0o600)).close();
  } catch (error) {
    throw new ConfigError(`cannot write the results file ${path}: ${(error as Error).message}`);
  }
  return { record: (run) => appendFile(path, `${JSON.stringify(run)}\n`, { mode: 0o600 }) };
}

/**
 * The newest runs of a JSON lines file written by `fileRecorder`, newest first.
 *
 * @example
 * const runs = await readRunsFile('/var/lib/bulkhead/verify-runs.jsonl', 20);
 */
export async function readRunsFile(path: string, limit: number): Promise<VerifyRun[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the results file ${path}: ${(error as Error).message}`);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines
    .slice(-limit)
    .reverse()
    .map((line, i) => {
      try {
        return JSON.parse(line) as VerifyRun;
      } catch {
        throw new ConfigError(`${path}: line ${lines.length - i} is not JSON`);
      }
    });
}
