// What `bulkhead verify` does, loaded only when it runs: the attack, the reports and the stores it records
// to are more than any other command should load to start (the command itself is in verify.ts).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, type Config } from '../../config.js';
import { newId } from '../../domain/ids.js';
import type { Store } from '../../store/store.js';
import { bulkheadTarget } from '../../verify/bulkhead-target.js';
import { configTarget, loadVerifyConfig } from '../../verify/config-target.js';
import { toJunit } from '../../verify/junit.js';
import { toSarif } from '../../verify/sarif.js';
import { IsolationMetrics } from '../../verify/metrics.js';
import { serveMetrics, type MetricsServer } from '../../verify/metrics-server.js';
import { loadApiDescription, type ApiDescription } from '../../verify/openapi.js';
import { checkLabel, summaryLine, type VerifyReport } from '../../verify/report.js';
import { fileRecorder, recordRun, runRecord, type RunRecorder, type VerifyRun } from '../../verify/runs.js';
import { startSchedule } from '../../verify/schedule.js';
import type { Target } from '../../verify/target.js';
import { runVerify } from '../../verify/verify.js';
import { printJson, printTable, withProgress, type CliContext } from '../context.js';
import { localUser } from '../direct.js';
import { version } from '../version.js';
import type { VerifyOptions } from './verify.js';

/** What a run needs: a fresh target each time (probe domain names are used once), and the document. */
interface Plan {
  readonly name: string;
  readonly spec: string;
  target(): Target;
}

function printReport(ctx: CliContext, report: VerifyReport): void {
  printTable(
    ctx.io,
    report.checks.map((c) => ({
      operation: c.operation,
      attack: checkLabel(c),
      expected: c.expected,
      got: c.got,
      verdict: c.verdict,
    })),
    ['operation', 'attack', 'expected', 'got', 'verdict'],
  );
  const left = report.operations.filter((o) => o.coverage !== 'exercised');
  if (left.length > 0) {
    ctx.io.out('');
    ctx.io.out('Not exercised:');
    printTable(
      ctx.io,
      left.map((o) => ({ ...o, coverage: o.coverage === 'skipped' ? 'SKIPPED' : 'not applicable' })),
      ['operation', 'coverage', 'reason'],
    );
  }
  const leaks = report.checks.filter((c) => c.verdict === 'leak');
  if (leaks.length > 0) {
    ctx.io.out('');
    ctx.io.out(`LEAKS (${leaks.length}):`);
    for (const c of leaks) ctx.io.out(`  ${c.operation}  ${checkLabel(c)}  ${c.got}`);
  }
  ctx.io.out('');
  ctx.io.out(summaryLine(report));
}

/** One scheduled run as a line or a few: the summary, then each leak and each operation not exercised. */
function printRun(
  ctx: CliContext,
  format: VerifyOptions['format'],
  run: VerifyRun,
  report: VerifyReport | null,
) {
  if (format === 'json') return ctx.io.out(JSON.stringify(run));
  const at = run.finishedAt;
  if (report === null) return ctx.io.out(`${at} ${run.id} bulkhead verify: ERROR: ${run.error ?? ''}`);
  ctx.io.out(`${at} ${run.id} ${summaryLine(report)}`);
  for (const leak of run.report?.leaks ?? [])
    ctx.io.out(`  LEAK ${leak.operation}  ${checkLabel(leak)}  ${leak.got}`);
  for (const o of run.report?.unexercised ?? []) ctx.io.out(`  SKIPPED ${o.operation}  ${o.reason ?? ''}`);
}

async function plan(ctx: CliContext, opts: VerifyOptions, timeoutMs: number): Promise<Plan> {
  if (opts.config !== undefined) {
    const config = await loadVerifyConfig(opts.config, ctx.env);
    const fromConfig =
      config.spec === undefined || /^https?:\/\//i.test(config.spec) || isAbsolute(config.spec)
        ? config.spec
        : resolve(dirname(opts.config), config.spec);
    const spec = opts.spec ?? fromConfig;
    if (spec === undefined)
      throw new ConfigError('give the OpenAPI document with --spec (or "spec" in the config)');
    return { name: config.baseUrl, spec, target: () => configTarget(config) };
  }
  const c = ctx.config({ operatorToken: opts.operatorToken });
  if (c.url === undefined)
    throw new ConfigError(
      'give --url (or BULKHEAD_URL) to verify a running Bulkhead, or --config for another API',
    );
  const { url, operatorToken } = c;
  if (operatorToken === undefined)
    throw new ConfigError(
      'set BULKHEAD_OPERATOR_TOKEN (or --operator-token): the probe domains are created with it',
    );
  return {
    name: url,
    spec: opts.spec ?? `${url.replace(/\/+$/, '')}/openapi.json`,
    target: () => bulkheadTarget({ url, operatorToken, timeoutMs }),
  };
}

/** The document's text when it is a local file, so SARIF can give each leak its line; else undefined. */
function specText(spec: string): string | undefined {
  if (/^https?:\/\//i.test(spec)) return undefined;
  try {
    return readFileSync(spec, 'utf8');
  } catch {
    return undefined;
  }
}

/** Bulkhead's own store (the embedded data directory, or BULKHEAD_DATABASE_URL), for recording runs. */
async function openRecordStore(c: Config): Promise<Store> {
  // Only with --store: a run against a server records nothing here, and loads no store.
  const { storeOptions } = await import('../../runtime.js');
  const { DataDirLockedError, openStore } = await import('../../store/store.js');
  try {
    return await openStore(storeOptions(c));
  } catch (error) {
    if (error instanceof DataDirLockedError)
      throw new ConfigError(
        `--store: ${error.message} (a running "bulkhead serve"?); record runs in a shared PostgreSQL store ` +
          '(BULKHEAD_DATABASE_URL) or in a file (--results)',
      );
    throw error;
  }
}

/** Runs `bulkhead verify` with its parsed options. */
export async function verifyAction(ctx: CliContext, opts: VerifyOptions): Promise<void> {
  if (opts.every === undefined && opts.metricsPort !== undefined)
    throw new ConfigError('--metrics-port needs --every: a single run has no metrics to serve');
  if (opts.every !== undefined && (opts.format === 'junit' || opts.format === 'sarif'))
    throw new ConfigError(
      `--format ${opts.format} makes one document per run; with --every use table or json`,
    );
  const timeoutMs = opts.timeout * 1000;
  const p = await plan(ctx, opts, timeoutMs);
  // The document is read before anything is created: a wrong one is a usage error, not a failed run.
  const first = await loadApiDescription(p.spec, timeoutMs);
  const c = ctx.config({ operatorToken: opts.operatorToken });
  const recorders: RunRecorder[] = [];
  if (opts.results !== undefined) recorders.push(await fileRecorder(opts.results));
  const store = opts.store === true ? await openRecordStore(c) : null;
  const actor = `cli:${localUser()}`;
  if (store !== null)
    recorders.push({ record: (run) => store.system('verify', (tx) => recordRun(tx, run, actor)) });
  try {
    if (opts.every === undefined) await once(ctx, opts, p, first, recorders, timeoutMs);
    else await every(ctx, opts, opts.every, p, first, recorders, timeoutMs, c.metricsToken);
  } finally {
    await store?.close();
  }
}

async function once(
  ctx: CliContext,
  opts: VerifyOptions,
  p: Plan,
  api: ApiDescription,
  recorders: readonly RunRecorder[],
  timeoutMs: number,
): Promise<void> {
  const startedAt = new Date();
  const id = newId('verifyRun', startedAt.getTime());
  const record = async (outcome: { report: VerifyReport } | { error: string }) => {
    const run = runRecord({ id, startedAt, finishedAt: new Date(), target: p.name, outcome });
    for (const recorder of recorders) await recorder.record(run);
  };
  let report: VerifyReport;
  try {
    report = await withProgress(ctx.io, `bulkhead verify: probing ${p.name}…`, () =>
      runVerify({ target: p.target(), api, spec: p.spec, timeoutMs, concurrency: opts.concurrency }),
    );
  } catch (error) {
    // A run the target failed is recorded as one; a usage error (exit 2) is not a run. The run's own
    // error is what the command reports, even when recording it fails too.
    if (!(error instanceof ConfigError))
      await record({ error: (error as Error).message }).catch((e: unknown) =>
        ctx.io.err(`bulkhead verify: warning: the run was not recorded: ${(e as Error).message}`),
      );
    throw error;
  }
  if (opts.format === 'json') printJson(ctx.io, report);
  else if (opts.format === 'junit') ctx.io.out(toJunit(report));
  else if (opts.format === 'sarif')
    ctx.io.out(toSarif(report, { version: version(), specText: specText(p.spec) }));
  else printReport(ctx, report);
  if (opts.format !== 'table') ctx.io.err(summaryLine(report));
  for (const problem of report.cleanup) ctx.io.err(`bulkhead verify: warning: not cleaned up: ${problem}`);
  ctx.exitCode = report.ok ? 0 : 1;
  // Printed first: a report is worth having even when it cannot be recorded (which then fails the command).
  await record({ report });
}

async function every(
  ctx: CliContext,
  opts: VerifyOptions,
  everyMs: number,
  p: Plan,
  first: ApiDescription,
  recorders: readonly RunRecorder[],
  timeoutMs: number,
  metricsToken: string | undefined,
): Promise<void> {
  const metrics = new IsolationMetrics();
  let server: MetricsServer | null = null;
  if (opts.metricsPort !== undefined) {
    server = await serveMetrics({
      registry: metrics.registry,
      host: opts.metricsHost,
      port: opts.metricsPort,
      token: metricsToken,
    });
    ctx.io.err(`bulkhead verify: metrics at ${server.url}`);
  }
  // The document is read again for every later run: a server that was upgraded is attacked as it is now.
  let api: ApiDescription | null = first;
  const schedule = startSchedule({
    everyMs,
    target: p.name,
    run: async (signal) => {
      const current = api ?? (await loadApiDescription(p.spec, timeoutMs));
      api = null;
      return runVerify({
        target: p.target(),
        api: current,
        spec: p.spec,
        timeoutMs,
        concurrency: opts.concurrency,
        signal,
      });
    },
    recorders,
    metrics,
    onRun: (run, report) => printRun(ctx, opts.format, run, report),
    onWarning: (message) => ctx.io.err(`bulkhead verify: warning: ${message}`),
    failFast: true,
  });
  ctx.io.err(
    `bulkhead verify: every ${(everyMs / 1000).toString()} s against ${p.name}; SIGINT or SIGTERM stops`,
  );
  // The first signal stops the run in progress and removes its probe domains; a second one ends the
  // process at once (the handlers are gone by then).
  const stop = (signal: string) => {
    ctx.io.err(`bulkhead verify: ${signal}: stopping; removing the probe domains of the run in progress`);
    void schedule.stop();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    await schedule.done;
    ctx.io.err('bulkhead verify: stopped');
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await server?.close();
  }
}
