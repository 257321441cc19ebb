// One run of the prober: prepare the target, attack, run the backends' own probes, and remove the probe
// domains again whatever happened, timing the whole. The report's `ok` is the one verdict: no leak and
// nothing left out. A run that is stopped (the signal) still removes its probe domains, then throws.
import { httpSender } from './http.js';
import type { ApiDescription } from './openapi.js';
import { probe } from './probe.js';
import { summarise, type Check, type OperationResult, type VerifyReport } from './report.js';
import type { ProviderProbe, Target } from './target.js';

export interface VerifyOptions {
  readonly target: Target;
  readonly api: ApiDescription;
  /** Where the document came from, for the report. */
  readonly spec: string;
  readonly timeoutMs?: number;
  /** How many operations are attacked at once (default 4). */
  readonly concurrency?: number;
  /** Stops the attacks early; the probe domains are still removed, then the run throws VerifyAborted. */
  readonly signal?: AbortSignal;
}

/** Thrown by a run that was stopped; `cleanup` is what its target could not remove. */
export class VerifyAborted extends Error {
  override readonly name = 'VerifyAborted';
  constructor(readonly cleanup: readonly string[]) {
    super('the run was stopped before it finished');
  }
}

/** A backend probe as the report shows it: an operation `provider:<kind>` with one check. */
export function providerResults(probes: readonly ProviderProbe[]): {
  operations: OperationResult[];
  checks: Check[];
} {
  const operations: OperationResult[] = [];
  const checks: Check[] = [];
  for (const p of probes) {
    const operation = `provider:${p.kind}`;
    const base = { operation, operationId: null };
    if (p.outcome === 'not_configured') {
      operations.push({ ...base, coverage: 'not_applicable', reason: p.reason, checks: 0, leaks: 0 });
      continue;
    }
    const leak = p.outcome === 'not_refused';
    checks.push({
      ...base,
      attack: 'probeIsolation',
      credential: null,
      expected: "every attempt of A's credentials on B's resource refused",
      got:
        p.outcome === 'failed'
          ? `the probe did not run: ${p.reason ?? 'unknown reason'}`
          : leak
            ? `not refused: ${p.notRefused.join('; ')}`
            : `${p.attempts} attempts, all refused`,
      verdict: p.outcome === 'failed' ? 'inconclusive' : leak ? 'leak' : 'pass',
    });
    operations.push({
      ...base,
      coverage: p.outcome === 'failed' ? 'skipped' : 'exercised',
      reason: p.outcome === 'failed' ? `the probe did not run: ${p.reason ?? 'unknown reason'}` : null,
      checks: 1,
      leaks: leak ? 1 : 0,
    });
  }
  return { operations, checks };
}

/**
 * Attacks the target's API across its two probe domains and reports every check.
 *
 * @example
 * const report = await runVerify({ target, api, spec: 'http://127.0.0.1:8080/openapi.json' });
 * process.exitCode = report.ok ? 0 : 1;
 */
export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const signal = options.signal;
  let result: Awaited<ReturnType<typeof probe>> | undefined;
  let providers: ReturnType<typeof providerResults> = { operations: [], checks: [] };
  let cleanup: string[] = [];
  try {
    const setup = await options.target.setup();
    if (signal?.aborted !== true) {
      const send = httpSender(setup.baseUrl, options.timeoutMs ?? 10_000, signal);
      result = await probe(options.api, setup, send, {
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      });
    }
    if (signal?.aborted !== true && options.target.probeProviders !== undefined)
      providers = providerResults(await options.target.probeProviders());
  } catch (error) {
    if (signal?.aborted !== true) throw error;
  } finally {
    try {
      cleanup = await options.target.teardown();
    } catch (error) {
      cleanup = [`removing the probe domains failed: ${(error as Error).message}`];
    }
  }
  if (signal?.aborted === true || result === undefined) throw new VerifyAborted(cleanup);
  const operations = [...result.operations, ...providers.operations];
  const checks = [...result.checks, ...providers.checks];
  const summary = summarise(operations, checks);
  return {
    target: options.target.name,
    spec: options.spec,
    startedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
    ok: summary.leaks === 0 && summary.skipped === 0,
    summary,
    operations,
    checks,
    cleanup,
  };
}
