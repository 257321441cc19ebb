import type { Command } from 'commander';
import type { VerifyRun } from '../../verify/runs.js';
import { printJson, printTable, wholeNumber, type CliContext } from '../context.js';

function elapsed(run: VerifyRun): string {
  return `${((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000).toFixed(1)} s`;
}

export function registerVerifyHistory(verify: Command, ctx: CliContext): void {
  verify
    .command('history')
    .description(
      'list recorded isolation runs, newest first: from the store (or a server with --url), or from the ' +
        'JSON lines file that verify --results wrote',
    )
    .argument('[file]', 'a results file written by verify --results (default: the store)')
    .option('--limit <n>', 'at most this many (1-100)', wholeNumber(1, 100), 20)
    .option('--json', 'print JSON')
    .action(async (file: string | undefined, opts: { limit: number; json?: boolean }) => {
      const runs =
        file !== undefined
          ? await (await import('../../verify/runs.js')).readRunsFile(file, opts.limit)
          : await ctx.withControlPlane((cp) => cp.listVerifyRuns({ limit: opts.limit }));
      if (opts.json === true) return printJson(ctx.io, runs);
      printTable(
        ctx.io,
        runs.map((r) => ({
          ...r,
          exercised: `${r.exercised}/${r.operations}`,
          elapsed: elapsed(r),
          error: r.error,
        })),
        [
          'id',
          'startedAt',
          'target',
          'verdict',
          'leaks',
          'unexercised',
          'exercised',
          'checks',
          'elapsed',
          'error',
        ],
      );
    });
}
