import { Option, type Command } from 'commander';
import type { DomainView } from '../../services/domains.js';
import { printJson, printMany, printTable, resolveDomain, wholeNumber, type CliContext } from '../context.js';

const columns = ['id', 'slug', 'name', 'status', 'createdAt'];

function show(ctx: CliContext, domain: DomainView, json: boolean | undefined): void {
  if (json === true) printJson(ctx.io, domain);
  else printTable(ctx.io, [{ ...domain }], columns);
}

export function registerDomain(program: Command, ctx: CliContext): void {
  const domain = program.command('domain').description('create and manage domains (tenants)');

  domain
    .command('create <slug>')
    .description('create a domain')
    .option('--name <name>', 'display name (default: the slug)')
    .option('--json', 'print JSON')
    .action((slug: string, opts: { name?: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) =>
        show(ctx, await cp.createDomain({ slug, name: opts.name ?? slug }), opts.json),
      ),
    );

  domain
    .command('list')
    .description('list domains')
    .addOption(
      new Option('--status <status>', 'only domains in this state').choices([
        'active',
        'suspended',
        'deleted',
      ]),
    )
    .option('--all', 'include deleted domains')
    .option('--limit <n>', 'at most this many (1-500)', wholeNumber(1, 500), 100)
    .option('--json', 'print JSON')
    .action(
      (opts: { status?: 'active' | 'suspended' | 'deleted'; all?: boolean; limit: number; json?: boolean }) =>
        ctx.withControlPlane(async (cp) => {
          const items = await cp.listDomains({
            status: opts.status,
            includeDeleted: opts.all,
            limit: opts.limit,
          });
          printMany(ctx.io, items, columns, opts.json);
        }),
    );

  for (const [name, description] of [
    ['show', 'show a domain'],
    ['suspend', 'suspend a domain: its keys are refused until it is resumed'],
    ['resume', 'resume a suspended domain'],
    ['delete', 'delete a domain and revoke its keys'],
  ] as const) {
    const command = domain
      .command(`${name} <domain>`)
      .description(`${description} (by id or slug)`)
      .option('--json', 'print JSON');
    if (name === 'suspend')
      command.option(
        '--reason <reason>',
        'why: billing (non-payment: paying its invoices resumes it), or a word of your own',
        'operator',
      );
    command.action((ref: string, opts: { json?: boolean; reason?: string }) =>
      ctx.withControlPlane(async (cp) => {
        const id = await resolveDomain(cp, ref);
        const result =
          name === 'show'
            ? await cp.getDomain(id)
            : name === 'suspend'
              ? await cp.suspendDomain(id, opts.reason)
              : name === 'resume'
                ? await cp.resumeDomain(id)
                : await cp.deleteDomain(id);
        show(ctx, result, opts.json);
      }),
    );
  }
}
