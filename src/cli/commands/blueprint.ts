// `bulkhead blueprint …`: several resources provisioned as one with the domain's key (BULKHEAD_KEY):
// all ready, or none left behind.
import { InvalidArgumentError, type Command } from 'commander';
import { resourceKinds, type ResourceKind } from '../../domain/kinds.js';
import { BulkheadError } from '../../errors.js';
import type { BlueprintView } from '../../provisioner/blueprints.js';
import {
  idOf,
  printJson,
  printTable,
  readJsonFile,
  resolveDomain,
  withProgress,
  type CliContext,
} from '../context.js';
import type { BlueprintInput } from '../tenant-plane.js';

const resourceColumns = ['id', 'kind', 'name', 'status', 'error'];

function printBlueprint(ctx: CliContext, blueprint: BlueprintView, json: boolean | undefined): void {
  if (json === true) return printJson(ctx.io, blueprint);
  ctx.io.out(
    `${blueprint.id} ${blueprint.name} ${blueprint.status}${blueprint.error === null ? '' : `: ${blueprint.error}`}`,
  );
  printTable(
    ctx.io,
    blueprint.resources.map((r) => ({ ...r })),
    resourceColumns,
  );
}

/** `--resource kind:name`, repeated. */
function item(text: string, previous: BlueprintInput['resources'] = []): BlueprintInput['resources'] {
  const [kind = '', name = ''] = text.split(':');
  if (!(resourceKinds as readonly string[]).includes(kind) || name === '')
    throw new InvalidArgumentError(`must be KIND:NAME, KIND one of ${resourceKinds.join(', ')}`);
  return [...previous, { kind: kind as ResourceKind, name }];
}

export function registerBlueprint(program: Command, ctx: CliContext): void {
  const blueprint = program
    .command('blueprint')
    .description("provision several resources as one with the domain's key (BULKHEAD_KEY)");

  blueprint
    .command('create')
    .argument('[name]', 'the blueprint’s name (a-z, 0-9, -)')
    .description('provision every resource, or none: on a failure, those made are removed again')
    .option('--resource <kind:name>', 'a resource to provision (repeat)', item)
    .option('--file <path>', 'or a JSON file: {"name": …, "resources": [{"kind": …, "name": …}]}')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string | undefined,
        opts: { resource?: BlueprintInput['resources']; file?: string; json?: boolean },
      ) => {
        let input: BlueprintInput;
        if (opts.file !== undefined) {
          if (name !== undefined || opts.resource !== undefined)
            throw new BulkheadError('invalid_request', 'Give a --file, or a name with --resource, not both.');
          input = await readJsonFile<BlueprintInput>(opts.file);
        } else {
          if (name === undefined || opts.resource === undefined)
            throw new BulkheadError('invalid_request', 'Give a name and at least one --resource KIND:NAME.');
          input = { name, resources: opts.resource };
        }
        await ctx.withTenantPlane(async (tp) => {
          const created = await withProgress(
            ctx.io,
            `bulkhead: provisioning ${input.resources.length} resources of blueprint ${input.name}…`,
            () => tp.createBlueprint(input),
          );
          printBlueprint(ctx, created, opts.json);
        });
      },
    );

  blueprint
    .command('show')
    .argument('<blueprintId>', 'bpr_…', idOf('blueprint'))
    .description('show a blueprint and its resources')
    .option('--domain <domain>', "as the operator: the blueprint's domain (id or slug)")
    .option('--json', 'print JSON')
    .action((blueprintId: string, opts: { domain?: string; json?: boolean }) =>
      opts.domain === undefined
        ? ctx.withTenantPlane(async (tp) =>
            printBlueprint(ctx, await tp.getBlueprint(blueprintId), opts.json),
          )
        : ctx.withControlPlane(async (cp) =>
            printBlueprint(
              ctx,
              await cp.getBlueprint(await resolveDomain(cp, opts.domain!), blueprintId),
              opts.json,
            ),
          ),
    );
}
