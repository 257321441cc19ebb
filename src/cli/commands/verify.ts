// `bulkhead verify` as the command tree knows it: its options, help and parsers. What it does is in
// verify-run.ts, imported when it runs, so that no other command loads the attack and its reports.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseDuration } from '../../util/duration.js';
import { wholeNumber, type CliContext } from '../context.js';
import { registerVerifyHistory } from './verify-history.js';

export interface VerifyOptions {
  spec?: string;
  config?: string;
  operatorToken?: string;
  format: 'table' | 'json' | 'junit' | 'sarif';
  timeout: number;
  concurrency: number;
  every?: number;
  results?: string;
  store?: boolean;
  metricsPort?: number;
  metricsHost: string;
}

function duration(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function registerVerify(program: Command, ctx: CliContext): void {
  const verify = program
    .command('verify')
    .description(
      'attack a running API across two probe domains and exit 1 on any cross-tenant leak: Bulkhead itself ' +
        '(--url, operator token) or any API described by OpenAPI 3.x (--spec, --config); --every repeats it',
    )
    .option('--spec <file|url>', 'the OpenAPI 3.x document (JSON); default <url>/openapi.json for Bulkhead')
    .option('--config <file>', 'a verify configuration for an API other than Bulkhead (see docs/verify.md)')
    .option('--operator-token <token>', 'the operator token (BULKHEAD_OPERATOR_TOKEN; prefer the variable)')
    .addOption(
      new Option('--format <format>', 'how to print the report')
        .choices(['table', 'json', 'junit', 'sarif'])
        .default('table'),
    )
    .option('--timeout <seconds>', 'seconds to wait for each answer', wholeNumber(1, 300), 10)
    .option(
      '--concurrency <n>',
      'how many operations are attacked at once (requests in flight at most)',
      wholeNumber(1, 64),
      4,
    )
    .option(
      '--every <duration>',
      'run again every interval (30s, 15m, 1h …) until SIGINT or SIGTERM',
      duration,
    )
    .option('--results <file>', "append each run's record to this JSON lines file")
    .option(
      '--store',
      "record each run in Bulkhead's store (--data-dir or BULKHEAD_DATABASE_URL), auditing failures",
    )
    .option(
      '--metrics-port <port>',
      'with --every: serve Prometheus metrics at :port/metrics',
      wholeNumber(0, 65535),
    )
    .option('--metrics-host <host>', 'the address for --metrics-port', '127.0.0.1')
    .action(async (opts: VerifyOptions) => {
      const { verifyAction } = await import('./verify-run.js');
      await verifyAction(ctx, opts);
    });
  registerVerifyHistory(verify, ctx);
}
