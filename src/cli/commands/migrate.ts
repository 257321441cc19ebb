import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerMigrate(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('bring the store schema up to date and exit')
    .action(async () => {
      const { openServices } = await import('../../runtime.js');
      const services = await openServices(ctx.config()); // opening the store migrates it
      await services.close();
      ctx.io.out(`store is up to date (${services.store.kind})`);
    });
}
