// `bulkhead principal …` and `bulkhead session …`: the people and services of a domain, and their
// sessions, managed by the operator (BULKHEAD_OPERATOR_TOKEN with --url, or the store directly).
import { Argument, Option, type Command } from 'commander';
import { BulkheadError } from '../../errors.js';
import type { PrincipalView } from '../../identity/principals.js';
import { idOf, printJson, printMany, printOne, resolveDomain, type CliContext } from '../context.js';

const columns = ['id', 'kind', 'email', 'clientId', 'role', 'status', 'updatedAt'];

/** The first line of standard input, which `--password-stdin` says holds the password. */
async function passwordFromStdin(ctx: CliContext, given: boolean | undefined): Promise<string> {
  // Never an argument: the command line ends up in shell histories and process listings.
  if (given !== true)
    throw new BulkheadError('invalid_request', 'Give the password on standard input with --password-stdin.');
  const [password = ''] = (await ctx.io.input()).split(/\r?\n/);
  return password;
}

const domainOption = () => new Option('--domain <domain>', 'the domain (id or slug)').makeOptionMandatory();

export function registerPrincipal(program: Command, ctx: CliContext): void {
  const principal = program
    .command('principal')
    .description("manage a domain's users and service accounts (operator)");
  const id = idOf('principal');

  principal
    .command('create')
    .description('create a user (email and password) or a service account (prints its client secret once)')
    .addOption(domainOption())
    .addOption(new Option('--kind <kind>', 'user or service').choices(['user', 'service']).default('user'))
    .option('--email <email>', 'a user’s email')
    .option('--password-stdin', 'read a user’s password (at least 12 characters) from standard input')
    .addOption(
      new Option('--role <role>', 'admin manages the domain’s principals').choices(['member', 'admin']),
    )
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        domain: string;
        kind: 'user' | 'service';
        email?: string;
        passwordStdin?: boolean;
        role?: 'member' | 'admin';
        json?: boolean;
      }) => {
        const role = opts.role === undefined ? {} : { role: opts.role };
        let input;
        if (opts.kind === 'user') {
          if (opts.email === undefined)
            throw new BulkheadError('invalid_request', 'A user needs --email and --password-stdin.');
          input = {
            kind: 'user' as const,
            email: opts.email,
            password: await passwordFromStdin(ctx, opts.passwordStdin),
            ...role,
          };
        } else {
          if (opts.email !== undefined || opts.passwordStdin === true)
            throw new BulkheadError('invalid_request', 'A service account has no email or password.');
          input = { kind: 'service' as const, ...role };
        }
        await ctx.withControlPlane(async (cp) => {
          const created = await cp.createPrincipal(await resolveDomain(cp, opts.domain), input);
          if (opts.json === true) return printJson(ctx.io, created);
          printOne(ctx.io, created, columns, false);
          if (created.clientSecret !== undefined) {
            ctx.io.out(`clientId: ${created.clientId ?? ''}`);
            ctx.io.out(`clientSecret: ${created.clientSecret}`);
            ctx.io.err('bulkhead: the client secret is shown this once; store it now.');
          }
        });
      },
    );

  principal
    .command('list')
    .description("list a domain's principals")
    .addOption(domainOption())
    .option('--json', 'print JSON')
    .action((opts: { domain: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) =>
        printMany(ctx.io, await cp.listPrincipals(await resolveDomain(cp, opts.domain)), columns, opts.json),
      ),
    );

  principal
    .command('show')
    .argument('<principalId>', 'prn_…', id)
    .description('show a principal')
    .addOption(domainOption())
    .option('--json', 'print JSON')
    .action((principalId: string, opts: { domain: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const all = await cp.listPrincipals(await resolveDomain(cp, opts.domain));
        const found: PrincipalView | undefined = all.find((p) => p.id === principalId);
        if (found === undefined) throw new BulkheadError('not_found');
        printOne(ctx.io, found, columns, opts.json);
      }),
    );

  for (const [name, description] of [
    ['disable', 'disable a principal; its sessions end'],
    ['delete', 'delete a principal; its sessions end'],
  ] as const) {
    principal
      .command(name)
      .argument('<principalId>', 'prn_…', id)
      .description(description)
      .addOption(domainOption())
      .option('--json', 'print JSON')
      .action((principalId: string, opts: { domain: string; json?: boolean }) =>
        ctx.withControlPlane(async (cp) => {
          const domainId = await resolveDomain(cp, opts.domain);
          const changed =
            name === 'disable'
              ? await cp.disablePrincipal(domainId, principalId)
              : await cp.deletePrincipal(domainId, principalId);
          printOne(ctx.io, changed, columns, opts.json);
        }),
      );
  }

  principal
    .command('password')
    .argument('<principalId>', 'prn_…', id)
    .description("set a user's password, read from standard input; every session of the user ends")
    .addOption(domainOption())
    .option('--password-stdin', 'read the new password from standard input (its first line)')
    .option('--json', 'print JSON')
    .action(
      async (principalId: string, opts: { domain: string; passwordStdin?: boolean; json?: boolean }) => {
        const password = await passwordFromStdin(ctx, opts.passwordStdin);
        await ctx.withControlPlane(async (cp) => {
          const updated = await cp.setPrincipalPassword(
            await resolveDomain(cp, opts.domain),
            principalId,
            password,
          );
          printOne(ctx.io, updated, columns, opts.json);
        });
      },
    );

  principal
    .command('role')
    .argument('<principalId>', 'prn_…', id)
    .addArgument(new Argument('<role>', 'admin manages the domain’s principals').choices(['member', 'admin']))
    .description("change a principal's role; its sessions end unless the role is the same")
    .addOption(domainOption())
    .option('--json', 'print JSON')
    .action((principalId: string, role: 'member' | 'admin', opts: { domain: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const updated = await cp.setPrincipalRole(await resolveDomain(cp, opts.domain), principalId, role);
        printOne(ctx.io, updated, columns, opts.json);
      }),
    );

  const session = program.command('session').description("end a domain's user sessions (operator)");
  session
    .command('revoke')
    .argument('<sessionId>', 'ses_…', idOf('session'))
    .description('revoke a session: its access and refresh tokens are refused from the next request on')
    .addOption(domainOption())
    .option('--json', 'print JSON')
    .action((sessionId: string, opts: { domain: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        await cp.revokeSession(await resolveDomain(cp, opts.domain), sessionId);
        if (opts.json === true) printJson(ctx.io, { id: sessionId, revoked: true });
        else ctx.io.out(`${sessionId} is revoked`);
      }),
    );
}
