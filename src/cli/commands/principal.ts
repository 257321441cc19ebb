import type { Command } from 'commander';
import { BulkheadError } from '../../errors.js';
import { printJson, printTable, resolveDomain, type CliContext } from '../context.js';

const columns = ['id', 'kind', 'email', 'status', 'updatedAt'];

export function registerPrincipal(program: Command, ctx: CliContext): void {
  const principal = program.command('principal').description("manage a domain's users");

  principal
    .command('password <principalId>')
    .description("set a user's password, read from standard input; every session of the user ends")
    .requiredOption('--domain <domain>', 'the domain of the user (id or slug)')
    .option('--password-stdin', 'read the new password from standard input (its first line)')
    .option('--json', 'print JSON')
    .action(
      async (principalId: string, opts: { domain: string; passwordStdin?: boolean; json?: boolean }) => {
        // Never an argument: the command line ends up in shell histories and process listings.
        if (opts.passwordStdin !== true) {
          throw new BulkheadError(
            'invalid_request',
            'Give the new password on standard input with --password-stdin.',
          );
        }
        const [password = ''] = (await ctx.io.input()).split(/\r?\n/);
        await ctx.withControlPlane(async (cp) => {
          const updated = await cp.setPrincipalPassword(
            await resolveDomain(cp, opts.domain),
            principalId,
            password,
          );
          if (opts.json === true) printJson(ctx.io, updated);
          else printTable(ctx.io, [{ ...updated }], columns);
        });
      },
    );
}
