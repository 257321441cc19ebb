import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { BulkheadError } from '../../errors.js';
import type { Services } from '../../runtime.js';
import type { CliContext } from '../context.js';

export function registerOperator(program: Command, ctx: CliContext): void {
  const operator = program.command('operator').description('manage the operator token');
  operator
    .command('reset-token')
    .description('replace the stored operator token and print the new one once (restart servers to use it)')
    .action(async () => {
      const services = await openForReset(ctx);
      try {
        const token = await services.operator.reset(`cli:${userInfo().username}`);
        ctx.io.out(`Operator token (shown once, store it now): ${token}`);
      } finally {
        await services.close();
      }
    });
}

/** The store, opened directly: the token lives there, and no server hands out a new one over HTTP. */
async function openForReset(ctx: CliContext): Promise<Services> {
  // Loaded here rather than at the top: every other command would pay for the store.
  const { openServices } = await import('../../runtime.js');
  const { DataDirLockedError } = await import('../../store/store.js');
  try {
    return await openServices(ctx.config());
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      throw new BulkheadError(
        'unavailable',
        `${error.message} (a running "bulkhead serve"?). Stop it, run "bulkhead operator reset-token" ` +
          'again, then start the server; it will accept the new token.',
      );
    }
    throw error;
  }
}
