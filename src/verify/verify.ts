// One run of the prober: prepare the target, attack, and remove the probe domains again whatever
// happened, timing the whole. The report's `ok` is the one verdict: no leak and nothing left out.
import { httpSender } from './http.js';
import type { ApiDescription } from './openapi.js';
import { probe } from './probe.js';
import { summarise, type VerifyReport } from './report.js';
import type { Target } from './target.js';

export interface VerifyOptions {
  readonly target: Target;
  readonly api: ApiDescription;
  /** Where the document came from, for the report. */
  readonly spec: string;
  readonly timeoutMs?: number;
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
  let result: Awaited<ReturnType<typeof probe>>;
  let cleanup: string[] = [];
  try {
    const setup = await options.target.setup();
    result = await probe(options.api, setup, httpSender(setup.baseUrl, options.timeoutMs ?? 10_000));
  } finally {
    try {
      cleanup = await options.target.teardown();
    } catch (error) {
      cleanup = [`removing the probe domains failed: ${(error as Error).message}`];
    }
  }
  const summary = summarise(result.operations, result.checks);
  return {
    target: options.target.name,
    spec: options.spec,
    startedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
    ok: summary.leaks === 0 && summary.skipped === 0,
    summary,
    operations: result.operations,
    checks: result.checks,
    cleanup,
  };
}
