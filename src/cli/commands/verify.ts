import { dirname, isAbsolute, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError } from '../../config.js';
import { bulkheadTarget } from '../../verify/bulkhead-target.js';
import { configTarget, loadVerifyConfig } from '../../verify/config-target.js';
import { toJunit } from '../../verify/junit.js';
import { loadApiDescription } from '../../verify/openapi.js';
import type { VerifyReport } from '../../verify/report.js';
import type { Target } from '../../verify/target.js';
import { runVerify } from '../../verify/verify.js';
import { printJson, printTable, wholeNumber, type CliContext } from '../context.js';

interface VerifyOptions {
  spec?: string;
  config?: string;
  operatorToken?: string;
  format: 'table' | 'json' | 'junit';
  timeout: number;
}

/** The one line a person or a scheduler log needs: the verdict, the counts and the time taken. */
function summaryLine(report: VerifyReport): string {
  const s = report.summary;
  const verdict = s.leaks > 0 ? 'LEAK' : s.skipped > 0 ? 'INCOMPLETE' : 'clean';
  return (
    `bulkhead verify: ${verdict}: ${s.leaks} leaks; ${s.exercised} of ${s.operations - s.notApplicable} ` +
    `tenant operations exercised (${s.skipped} skipped, ${s.notApplicable} not applicable); ` +
    `${s.checks} checks (${s.inconclusive} inconclusive); elapsed ${(report.elapsedMs / 1000).toFixed(1)} s`
  );
}

function printReport(ctx: CliContext, report: VerifyReport): void {
  printTable(
    ctx.io,
    report.checks.map((c) => ({
      operation: c.operation,
      attack: c.credential === null ? c.attack : `${c.attack}:${c.credential}`,
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
    for (const c of leaks)
      ctx.io.out(`  ${c.operation}  ${c.attack}${c.credential === null ? '' : `:${c.credential}`}  ${c.got}`);
  }
  ctx.io.out('');
  ctx.io.out(summaryLine(report));
}

export function registerVerify(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description(
      'attack a running API across two probe domains and exit 1 on any cross-tenant leak: Bulkhead itself ' +
        '(--url, operator token) or any API described by OpenAPI 3.x (--spec, --config)',
    )
    .option('--spec <file|url>', 'the OpenAPI 3.x document (JSON); default <url>/openapi.json for Bulkhead')
    .option('--config <file>', 'a verify configuration for an API other than Bulkhead (see docs/verify.md)')
    .option('--operator-token <token>', 'the operator token (BULKHEAD_OPERATOR_TOKEN; prefer the variable)')
    .addOption(
      new Option('--format <format>', 'how to print the report')
        .choices(['table', 'json', 'junit'])
        .default('table'),
    )
    .option('--timeout <seconds>', 'seconds to wait for each answer', wholeNumber(1, 300), 10)
    .action(async (opts: VerifyOptions) => {
      const timeoutMs = opts.timeout * 1000;
      let target: Target;
      let spec: string;
      if (opts.config !== undefined) {
        const config = await loadVerifyConfig(opts.config, ctx.env);
        const fromConfig =
          config.spec === undefined || /^https?:\/\//i.test(config.spec) || isAbsolute(config.spec)
            ? config.spec
            : resolve(dirname(opts.config), config.spec);
        const chosen = opts.spec ?? fromConfig;
        if (chosen === undefined)
          throw new ConfigError('give the OpenAPI document with --spec (or "spec" in the config)');
        spec = chosen;
        target = configTarget(config);
      } else {
        const c = ctx.config({ operatorToken: opts.operatorToken });
        if (c.url === undefined)
          throw new ConfigError(
            'give --url (or BULKHEAD_URL) to verify a running Bulkhead, or --config for another API',
          );
        if (c.operatorToken === undefined)
          throw new ConfigError(
            'set BULKHEAD_OPERATOR_TOKEN (or --operator-token): the probe domains are created with it',
          );
        spec = opts.spec ?? `${c.url.replace(/\/+$/, '')}/openapi.json`;
        target = bulkheadTarget({ url: c.url, operatorToken: c.operatorToken, timeoutMs });
      }
      const api = await loadApiDescription(spec, timeoutMs);
      const report = await runVerify({ target, api, spec, timeoutMs });

      if (opts.format === 'json') printJson(ctx.io, report);
      else if (opts.format === 'junit') ctx.io.out(toJunit(report));
      else printReport(ctx, report);
      if (opts.format !== 'table') ctx.io.err(summaryLine(report));
      for (const problem of report.cleanup)
        ctx.io.err(`bulkhead verify: warning: not cleaned up: ${problem}`);
      ctx.exitCode = report.ok ? 0 : 1;
    });
}
