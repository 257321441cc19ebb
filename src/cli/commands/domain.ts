import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { DomainView } from '../../services/domains.js';
import type { PortalSettingsView } from '../../services/portal.js';
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

  domain
    .command('portal <domain>')
    .description(
      "show or set a domain's portal: its hosts (--host, repeatable, replaces them), branding and logo",
    )
    .option('--host <host>', 'a portal host (repeat for several; replaces the hosts)', collect, [])
    .option('--no-hosts', 'remove every portal host of the domain')
    .option('--name <displayName>', 'the name the portal shows')
    .option('--primary-color <#rrggbb>', 'the main colour')
    .option('--accent-color <#rrggbb>', 'the accent colour')
    .option('--support-email <email>', 'where its people ask for help')
    .option('--support-url <https-url>', 'a help page')
    .option('--logo <file>', 'a PNG, JPEG or WebP file, at most 256 KiB')
    .option('--json', 'print JSON')
    .action(
      (
        ref: string,
        opts: {
          host: string[];
          hosts: boolean;
          name?: string;
          primaryColor?: string;
          accentColor?: string;
          supportEmail?: string;
          supportUrl?: string;
          logo?: string;
          json?: boolean;
        },
      ) =>
        ctx.withControlPlane(async (cp) => {
          const id = await resolveDomain(cp, ref);
          let view = await cp.getPortal(id);
          const branding = view.branding;
          const changes =
            opts.host.length > 0 ||
            !opts.hosts ||
            [opts.name, opts.primaryColor, opts.accentColor, opts.supportEmail, opts.supportUrl].some(
              (v) => v !== undefined,
            );
          if (changes) {
            view = await cp.setPortal(id, {
              hosts: !opts.hosts ? [] : opts.host.length > 0 ? opts.host : view.hosts,
              branding: {
                displayName: opts.name ?? branding?.displayName ?? (await cp.getDomain(id)).name,
                primaryColor: opts.primaryColor ?? branding?.primaryColor,
                accentColor: opts.accentColor ?? branding?.accentColor,
                supportEmail: opts.supportEmail ?? branding?.supportEmail ?? null,
                supportUrl: opts.supportUrl ?? branding?.supportUrl ?? null,
              },
            });
          }
          if (opts.logo !== undefined) view = await cp.setPortalLogo(id, await readFile(opts.logo));
          showPortal(ctx, view, opts.json);
        }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function showPortal(ctx: CliContext, view: PortalSettingsView, json: boolean | undefined): void {
  if (json === true) return printJson(ctx.io, view);
  const b = view.branding;
  printTable(
    ctx.io,
    [
      {
        hosts: view.hosts.join(' ') || '-',
        name: b?.displayName ?? '-',
        colors: b === null ? '-' : `${b.primaryColor} ${b.accentColor}`,
        support: b?.supportEmail ?? b?.supportUrl ?? '-',
        logo: b?.logo?.type ?? '-',
      },
    ],
    ['hosts', 'name', 'colors', 'support', 'logo'],
  );
}
