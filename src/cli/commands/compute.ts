// `bulkhead instance …` and `bulkhead volume …`: a domain's compute, with its provisioning key
// (BULKHEAD_KEY). The domain is the key's; an id of another domain's instance or volume is not found.
import { InvalidArgumentError, type Command } from 'commander';
import { idOf, printMany, printOne, type CliContext } from '../context.js';

const instanceColumns = ['id', 'name', 'status', 'createdAt'];
const volumeColumns = ['id', 'name', 'sizeBytes', 'status', 'instanceId', 'createdAt'];

const sizeUnits: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A size in bytes, plain or with a binary unit: `1048576`, `512KiB`, `10MiB`, `1GiB` (K, M, G also). */
export function parseSize(value: string): number {
  const match = /^(\d{1,15})\s*(?:([kmgt])(?:i?b)?)?$/i.exec(value.trim());
  const bytes = match === null ? NaN : Number(match[1]) * sizeUnits[(match[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new InvalidArgumentError('must be a size in bytes, or with a unit: 512KiB, 10MiB, 1GiB');
  return bytes;
}

function registerInstance(program: Command, ctx: CliContext): void {
  const instance = program
    .command('instance')
    .description("create and delete the key's domain's instances (BULKHEAD_KEY)");
  const id = idOf('instance');

  instance
    .command('create <name>')
    .description('create an instance; prints its id')
    .option('--json', 'print JSON')
    .action((name: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.createInstance({ name }), instanceColumns, opts.json),
      ),
    );

  instance
    .command('list')
    .description("list the domain's instances")
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printMany(ctx.io, await tp.listInstances(), instanceColumns, opts.json),
      ),
    );

  instance
    .command('show')
    .argument('<instanceId>', 'ins_…', id)
    .description('show an instance')
    .option('--json', 'print JSON')
    .action((instanceId: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.getInstance(instanceId), instanceColumns, opts.json),
      ),
    );

  instance
    .command('delete')
    .argument('<instanceId>', 'ins_…', id)
    .description('delete an instance; its volumes are detached and kept')
    .option('--json', 'print JSON')
    .action((instanceId: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.deleteInstance(instanceId), instanceColumns, opts.json),
      ),
    );
}

function registerVolume(program: Command, ctx: CliContext): void {
  const volume = program
    .command('volume')
    .description("create, attach, detach and delete the key's domain's volumes (BULKHEAD_KEY)");
  const id = idOf('volume');

  volume
    .command('create <name>')
    .description('create a volume; prints its id')
    .requiredOption('--size <size>', 'its size: bytes, or with a unit (512KiB, 10MiB, 1GiB)', parseSize)
    .option('--json', 'print JSON')
    .action((name: string, opts: { size: number; json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.createVolume({ name, sizeBytes: opts.size }), volumeColumns, opts.json),
      ),
    );

  volume
    .command('list')
    .description("list the domain's volumes")
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => printMany(ctx.io, await tp.listVolumes(), volumeColumns, opts.json)),
    );

  volume
    .command('show')
    .argument('<volumeId>', 'vol_…', id)
    .description('show a volume')
    .option('--json', 'print JSON')
    .action((volumeId: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.getVolume(volumeId), volumeColumns, opts.json),
      ),
    );

  volume
    .command('attach')
    .argument('<volumeId>', 'vol_…', id)
    .description('attach a volume to an instance of the same domain')
    .requiredOption('--instance <instanceId>', 'the instance (ins_…)', idOf('instance'))
    .option('--json', 'print JSON')
    .action((volumeId: string, opts: { instance: string; json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.attachVolume(volumeId, opts.instance), volumeColumns, opts.json),
      ),
    );

  volume
    .command('detach')
    .argument('<volumeId>', 'vol_…', id)
    .description('detach a volume from its instance')
    .option('--json', 'print JSON')
    .action((volumeId: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.detachVolume(volumeId), volumeColumns, opts.json),
      ),
    );

  volume
    .command('delete')
    .argument('<volumeId>', 'vol_…', id)
    .description('delete a volume: its bytes are overwritten with zeros before its space is released')
    .option('--json', 'print JSON')
    .action((volumeId: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) =>
        printOne(ctx.io, await tp.deleteVolume(volumeId), volumeColumns, opts.json),
      ),
    );
}

export function registerCompute(program: Command, ctx: CliContext): void {
  registerInstance(program, ctx);
  registerVolume(program, ctx);
}
