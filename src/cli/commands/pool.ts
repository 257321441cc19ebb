// `bulkhead pool …`: a domain's quotas and its share of each server. The domain's key reads its own;
// the operator reads any domain's (--domain) and sets them.
import { InvalidArgumentError, type Command } from 'commander';
import { resourceKinds } from '../../domain/kinds.js';
import { quotaNames } from '../../domain/quotas.js';
import { tenantLimitNames } from '../../services/tenant-limits.js';
import { BulkheadError } from '../../errors.js';
import type { PoolView } from '../tenant-plane.js';
import { printJson, printTable, resolveDomain, type CliContext } from '../context.js';

function printPool(ctx: CliContext, pool: PoolView, json: boolean | undefined): void {
  if (json === true) return printJson(ctx.io, pool);
  printTable(
    ctx.io,
    [
      ...Object.entries(pool.quotas as Record<string, number>).map(([name, value]) => ({
        kind: 'quota',
        name,
        value,
      })),
      ...Object.entries(pool.limits as unknown as Record<string, number>).map(([name, value]) => ({
        kind: 'limit',
        name,
        value,
      })),
    ],
    ['kind', 'name', 'value'],
  );
}

/** `name=value` pairs, each name one of `names`, each value a whole number. */
function pairs(names: readonly string[]) {
  return (text: string, previous: Record<string, number> = {}): Record<string, number> => {
    const match = /^([A-Za-z]+)=(\d{1,15})$/.exec(text.trim());
    if (match === null || !names.includes(match[1]!))
      throw new InvalidArgumentError(`must be NAME=NUMBER, NAME one of ${names.join(', ')}`);
    return { ...previous, [match[1]!]: Number(match[2]) };
  };
}

export function registerPool(program: Command, ctx: CliContext): void {
  const pool = program.command('pool').description("a domain's quotas and its share of each server");

  pool
    .command('show')
    .description("show the quotas and limits: the key's domain (BULKHEAD_KEY), or --domain for the operator")
    .option('--domain <domain>', 'as the operator: the domain (id or slug)')
    .option('--json', 'print JSON')
    .action((opts: { domain?: string; json?: boolean }) =>
      opts.domain === undefined
        ? ctx.withTenantPlane(async (tp) => printPool(ctx, await tp.pool(), opts.json))
        : ctx.withControlPlane(async (cp) =>
            printPool(ctx, await cp.getPool(await resolveDomain(cp, opts.domain!)), opts.json),
          ),
    );

  pool
    .command('set')
    .description('set some of a domain’s quotas and limits; the others keep their values (operator)')
    .requiredOption('--domain <domain>', 'the domain (id or slug)')
    .option(
      '--quota <name=number>',
      `a quota (repeat): ${resourceKinds.join(', ')} (resources of the kind), storageBytes, …`,
      pairs(quotaNames),
    )
    .option(
      '--limit <name=number>',
      `a limit (repeat): ${tenantLimitNames.join(', ')}`,
      pairs(tenantLimitNames),
    )
    .option('--json', 'print JSON')
    .action(
      (opts: {
        domain: string;
        quota?: Record<string, number>;
        limit?: Record<string, number>;
        json?: boolean;
      }) => {
        if (opts.quota === undefined && opts.limit === undefined)
          throw new BulkheadError('invalid_request', 'Name at least one --quota or --limit to set.');
        return ctx.withControlPlane(async (cp) => {
          const updated = await cp.setPool(await resolveDomain(cp, opts.domain), {
            ...(opts.quota === undefined ? {} : { quotas: opts.quota }),
            ...(opts.limit === undefined ? {} : { limits: opts.limit }),
          });
          printPool(ctx, updated, opts.json);
        });
      },
    );
}
