import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { openServices } from '../../runtime.js';
import type { CliContext } from '../context.js';

export function registerOperator(program: Command, ctx: CliContext): void {
  const operator = program.command('operator').description('manage the operator token');
  operator
    .command('reset-token')
    .description('replace the stored operator token and print the new one once (restart servers to use it)')
    .action(async () => {
      const services = await openServices(ctx.config());
      try {
        const token = await services.operator.reset(`cli:${userInfo().username}`);
        ctx.io.out(`Operator token (shown once, store it now): ${token}`);
      } finally {
        await services.close();
      }
    });
}
