// The outcome of a run: every check made, every operation with whether it was exercised (and why
// not), and the one verdict a scheduler needs. A run is clean only when nothing leaked and nothing that
// should have been exercised was left out.

/** `inconclusive`: both answers were refusals that say nothing about the boundary (e.g. both 400). */
export type Verdict = 'pass' | 'leak' | 'inconclusive';

export interface Check {
  /** `METHOD /path`. */
  readonly operation: string;
  readonly operationId: string | null;
  /**
   * e.g. `foreign`, `foreign-id`, `foreign-tenant`, `mixed-owner`, `foreign-body`, `own`, `smuggle-query`, `smuggle-header`,
   * `b-state`.
   */
  readonly attack: string;
  /** `mixed-owner`: the path parameters that carried B's ids (the others carried A's). */
  readonly parameters?: readonly string[];
  /** The credential of A used, or null (B's state checks). */
  readonly credential: string | null;
  readonly expected: string;
  readonly got: string;
  readonly verdict: Verdict;
}

/** The attack as reports show it: `mixed-owner[noteId]` names the parameters that carried B's ids. */
export function attackLabel(check: Pick<Check, 'attack' | 'parameters'>): string {
  return check.parameters === undefined ? check.attack : `${check.attack}[${check.parameters.join(',')}]`;
}

/** The attack and the credential of A it used, e.g. `foreign:apiKey`. */
export function checkLabel(check: Pick<Check, 'attack' | 'parameters' | 'credential'>): string {
  return check.credential === null ? attackLabel(check) : `${attackLabel(check)}:${check.credential}`;
}

/**
 * `exercised`: at least one conclusive check; `not_applicable`: nothing of a tenant to attack (public,
 * or deliberately skipped by the target with a reason); `skipped`: could not be exercised — a failure.
 */
export type Coverage = 'exercised' | 'not_applicable' | 'skipped';

export interface OperationResult {
  readonly operation: string;
  readonly operationId: string | null;
  readonly coverage: Coverage;
  readonly reason: string | null;
  readonly checks: number;
  readonly leaks: number;
}

/**
 * The coverage of an operation the document does not list (a page `page:…`, an OAuth endpoint
 * `oauth:…`), from its checks: exercised when one was conclusive, else skipped for `reason()`.
 */
export function coverageOf(
  operation: string,
  checks: readonly Check[],
  reason: () => string,
): OperationResult {
  const conclusive = checks.some((c) => c.verdict !== 'inconclusive');
  return {
    operation,
    operationId: null,
    coverage: conclusive ? 'exercised' : 'skipped',
    reason: conclusive ? null : reason(),
    checks: checks.length,
    leaks: checks.filter((c) => c.verdict === 'leak').length,
  };
}

export interface Summary {
  readonly operations: number;
  readonly exercised: number;
  readonly notApplicable: number;
  readonly skipped: number;
  readonly checks: number;
  readonly leaks: number;
  readonly inconclusive: number;
}

export interface VerifyReport {
  readonly target: string;
  readonly spec: string;
  readonly startedAt: string;
  readonly elapsedMs: number;
  /** Clean: no leak and nothing skipped. */
  readonly ok: boolean;
  readonly summary: Summary;
  readonly operations: readonly OperationResult[];
  readonly checks: readonly Check[];
  /** What the target could not remove afterwards. */
  readonly cleanup: readonly string[];
}

export function summarise(operations: readonly OperationResult[], checks: readonly Check[]): Summary {
  return {
    operations: operations.length,
    exercised: operations.filter((o) => o.coverage === 'exercised').length,
    notApplicable: operations.filter((o) => o.coverage === 'not_applicable').length,
    skipped: operations.filter((o) => o.coverage === 'skipped').length,
    checks: checks.length,
    leaks: checks.filter((c) => c.verdict === 'leak').length,
    inconclusive: checks.filter((c) => c.verdict === 'inconclusive').length,
  };
}

/**
 * The one line a person or a scheduler's log needs: the verdict, the counts and the time taken.
 *
 * @example
 * console.error(summaryLine(report)); // bulkhead verify: clean: 0 leaks; 46 of 46 … elapsed 17.6 s
 */
export function summaryLine(report: VerifyReport): string {
  const s = report.summary;
  const verdict = s.leaks > 0 ? 'LEAK' : s.skipped > 0 ? 'INCOMPLETE' : 'clean';
  return (
    `bulkhead verify: ${verdict}: ${s.leaks} leaks; ${s.exercised} of ${s.operations - s.notApplicable} ` +
    `tenant operations exercised (${s.skipped} skipped, ${s.notApplicable} not applicable); ` +
    `${s.checks} checks (${s.inconclusive} inconclusive); elapsed ${(report.elapsedMs / 1000).toFixed(1)} s`
  );
}
