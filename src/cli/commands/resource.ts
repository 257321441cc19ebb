import { InvalidArgumentError, type Command } from 'commander';
import { isId, newId } from '../../domain/ids.js';
import { resourceKinds, type ResourceKind } from '../../domain/kinds.js';
import { BulkheadError } from '../../errors.js';
import { manifestsYaml, namespaceName } from '../../providers/kubernetes/index.js';
import { printJson, printMany, printTable, withProgress, type CliContext } from '../context.js';

const columns = ['id', 'kind', 'name', 'status', 'createdAt', 'readyAt', 'error'];

function parseKind(value: string): ResourceKind {
  if (!(resourceKinds as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${resourceKinds.join(', ')}`);
  }
  return value as ResourceKind;
}

function parseDomainId(value: string): string {
  if (!isId('domain', value)) throw new InvalidArgumentError('must be a domain id (dom_…)');
  return value;
}

/**
 * `--dry-run` for kind kubernetes: the manifests a new resource of the domain would get, as YAML. The
 * domain is `--domain`, or else the provisioning key's (which opens the store or asks the server, as any
 * resource command does, audited as a use of the key); no cluster is contacted and no resource is recorded.
 */
async function printDryRun(ctx: CliContext, kind: ResourceKind, domain: string | undefined): Promise<void> {
  if (kind !== 'kubernetes') {
    throw new BulkheadError('invalid_request', '--dry-run is only available for --kind kubernetes.');
  }
  const domainId = domain ?? (await ctx.withTenantPlane((tp) => tp.domainId()));
  const ref = { domainId, resourceId: newId('resource') };
  ctx.io.out(`# dry run: nothing was applied; namespace ${namespaceName(ref)} of domain ${domainId}`);
  ctx.io.out((await manifestsYaml(ref)).trimEnd());
}

export function registerResource(program: Command, ctx: CliContext): void {
  const resource = program
    .command('resource')
    .description("provision and manage a domain's resources with its provisioning key (BULKHEAD_KEY)");

  resource
    .command('create')
    .description('provision a resource for the key’s domain and wait until it is ready')
    .requiredOption('--kind <kind>', `one of ${resourceKinds.join(', ')}`, parseKind)
    .requiredOption('--name <name>', 'a label, unique per kind in the domain (a-z, 0-9, -)')
    .option('--idempotency-key <key>', 'repeat a request safely: the same key returns the first result')
    .option('--credentials', 'print the credentials once it is ready')
    .option('--json', 'print JSON')
    .option('--dry-run', 'kubernetes only: print the manifests as YAML instead, contacting no cluster')
    .option('--domain <domainId>', "with --dry-run: the domain (default: the key's)", parseDomainId)
    .action(
      (opts: {
        kind: ResourceKind;
        name: string;
        idempotencyKey?: string;
        credentials?: boolean;
        json?: boolean;
        dryRun?: boolean;
        domain?: string;
      }) => {
        if (opts.dryRun === true) return printDryRun(ctx, opts.kind, opts.domain);
        if (opts.domain !== undefined) {
          throw new BulkheadError(
            'invalid_request',
            "--domain goes with --dry-run; a resource is created in the key's domain.",
          );
        }
        return ctx.withTenantPlane(async (tp) => {
          const created = await withProgress(
            ctx.io,
            `bulkhead: provisioning ${opts.kind} ${opts.name}…`,
            () => tp.createResource({ kind: opts.kind, name: opts.name }, opts.idempotencyKey),
          );
          const credentials =
            opts.credentials === true && created.status === 'ready'
              ? await tp.credentials(created.id)
              : undefined;
          if (opts.json === true)
            return printJson(ctx.io, credentials === undefined ? created : { ...created, credentials });
          printTable(ctx.io, [{ ...created }], columns);
          if (credentials !== undefined)
            for (const [k, v] of Object.entries(credentials)) ctx.io.out(`${k}: ${v}`);
        });
      },
    );

  resource
    .command('list')
    .description('list the key’s domain’s resources')
    .option('--all', 'include deleted resources')
    .option('--json', 'print JSON')
    .action((opts: { all?: boolean; json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        const items = await tp.listResources(opts.all === true);
        printMany(ctx.io, items, columns, opts.json);
      }),
    );

  resource
    .command('show <resourceId>')
    .description('show a resource')
    .option('--credentials', 'also print its credentials')
    .option('--json', 'print JSON')
    .action((id: string, opts: { credentials?: boolean; json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        const found = await tp.getResource(id);
        const credentials = opts.credentials === true ? await tp.credentials(id) : undefined;
        if (opts.json === true)
          return printJson(ctx.io, credentials === undefined ? found : { ...found, credentials });
        printTable(ctx.io, [{ ...found }], columns);
        if (credentials !== undefined)
          for (const [k, v] of Object.entries(credentials)) ctx.io.out(`${k}: ${v}`);
      }),
    );

  resource
    .command('rotate <resourceId>')
    .description('issue new credentials for a ready resource and print them once; the old ones stop working')
    .option('--json', 'print JSON')
    .action((id: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        const credentials = await tp.rotateCredentials(id);
        if (opts.json === true) return printJson(ctx.io, credentials);
        for (const [k, v] of Object.entries(credentials)) ctx.io.out(`${k}: ${v}`);
      }),
    );

  resource
    .command('delete <resourceId>')
    .description('deprovision a resource: sessions ended, data removed, names never reused')
    .option('--json', 'print JSON')
    .action((id: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        const deleted = await withProgress(ctx.io, `bulkhead: deprovisioning ${id}…`, () =>
          tp.deleteResource(id),
        );
        if (opts.json === true) printJson(ctx.io, deleted);
        else ctx.io.out(`${deleted.id} is ${deleted.status}`);
      }),
    );
}
