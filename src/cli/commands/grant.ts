// `bulkhead grant …`: the operator lets one domain act on another's instances, volumes or resources for
// a while. Every grant ends: `--expires-in` (from now) or `--expires-at`, at most 90 days.
import { InvalidArgumentError, type Command } from 'commander';
import { BulkheadError } from '../../errors.js';
import { grantableActions } from '../../policy/grantable.js';
import {
  idOf,
  parseSeconds,
  parseTime,
  printMany,
  printOne,
  resolveDomain,
  type CliContext,
} from '../context.js';

const columns = ['id', 'from', 'to', 'actions', 'resources', 'expiresAt', 'revokedAt', 'reason'];

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',')];

/** `--action`, repeated or comma-separated, each one an action a grant can give. */
function actions(value: string, previous: string[] = []): string[] {
  const next = collect(value, previous);
  for (const a of next) {
    if (!(grantableActions as readonly string[]).includes(a))
      throw new InvalidArgumentError(`"${a}" is not one of ${grantableActions.join(', ')}`);
  }
  return next;
}

interface CreateOptions {
  from: string;
  to: string;
  action: string[];
  resource?: string[];
  expiresIn?: number;
  expiresAt?: Date;
  reason: string;
  json?: boolean;
}

export function registerGrant(program: Command, ctx: CliContext): void {
  const grant = program
    .command('grant')
    .description("let one domain act on another domain's data for a while (operator)");

  grant
    .command('create')
    .description('grant `--from` the `--action`s on `--to`’s resources; prints the grant id')
    .requiredOption('--from <domain>', 'the domain that gets access (id or slug)')
    .requiredOption('--to <domain>', 'the domain whose data it reaches (id or slug)')
    .requiredOption('--action <actions...>', `what it may do: ${grantableActions.join(', ')}`, actions)
    .option(
      '--resource <ids...>',
      'ids of `--to`’s instances, volumes or resources (default: * for all)',
      collect,
    )
    .option('--expires-in <duration>', 'how long it lasts: 30m, 1h, 7d (at most 90d)', parseSeconds)
    .option('--expires-at <time>', 'when it ends, ISO 8601 (instead of --expires-in)', parseTime)
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .option('--json', 'print JSON')
    .action((opts: CreateOptions) => {
      if ((opts.expiresIn === undefined) === (opts.expiresAt === undefined))
        throw new BulkheadError('invalid_request', 'Give exactly one of --expires-in and --expires-at.');
      const expiresAt = opts.expiresAt ?? new Date(Date.now() + opts.expiresIn! * 1000);
      return ctx.withControlPlane(async (cp) => {
        const created = await cp.createGrant({
          from: await resolveDomain(cp, opts.from),
          to: await resolveDomain(cp, opts.to),
          actions: [...new Set(opts.action)],
          resources: opts.resource ?? ['*'],
          expiresAt,
          reason: opts.reason,
        });
        printOne(ctx.io, created, columns, opts.json);
      });
    });

  grant
    .command('list')
    .description('list live grants')
    .option('--domain <domain>', 'only those from or to this domain (id or slug)')
    .option('--all', 'include revoked and expired grants')
    .option('--json', 'print JSON')
    .action((opts: { domain?: string; all?: boolean; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const domainId = opts.domain === undefined ? undefined : await resolveDomain(cp, opts.domain);
        const items = await cp.listGrants({ domainId, includeInactive: opts.all === true });
        printMany(ctx.io, items, columns, opts.json);
      }),
    );

  grant
    .command('revoke')
    .argument('<grantId>', 'grt_…', idOf('grant'))
    .description('revoke a grant: the very next request that relied on it is refused')
    .option('--json', 'print JSON')
    .action((grantId: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => printOne(ctx.io, await cp.revokeGrant(grantId), columns, opts.json)),
    );
}
