// `bulkhead object …`: the objects of a storage resource, with the domain's provisioning key, through a
// running server (BULKHEAD_URL). Bytes go in and out as they are: from a file or standard input, to a
// file or standard output, streamed, never read whole into memory or turned into text.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { BulkheadError } from '../../errors.js';
import { idOf, printJson, type CliContext, type Io } from '../context.js';

/** Standard input as bytes, or `input()` as UTF-8 where the IO has no byte stream. */
async function* stdinBytes(io: Io): AsyncIterable<Uint8Array> {
  if (io.inputBytes !== undefined) yield* io.inputBytes();
  else yield Buffer.from(await io.input(), 'utf8');
}

async function toStdout(io: Io, body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of body) {
    if (io.write !== undefined) await io.write(chunk);
    else io.out(Buffer.from(chunk).toString('utf8'));
  }
}

/** Writes `body` to `file` through a temporary name, so a failed download leaves no partial file. */
async function toFile(file: string, body: AsyncIterable<Uint8Array>): Promise<void> {
  const partial = `${file}.partial-${process.pid}`;
  try {
    await pipeline(Readable.from(body), createWriteStream(partial, { flags: 'wx' }));
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

export function registerObject(program: Command, ctx: CliContext): void {
  const object = program
    .command('object')
    .description('store and read the objects of a storage resource (BULKHEAD_KEY, through BULKHEAD_URL)');
  const resource = idOf('resource');

  object
    .command('put')
    .argument('<resourceId>', 'a storage resource (res_…)', resource)
    .argument('<key>', 'the object key, e.g. reports/2026/q1.pdf')
    .argument('[file]', 'the file to store; standard input when left out or "-"')
    .description('store an object from a file or standard input, replacing one with the same key')
    .option('--json', 'print JSON')
    .action((resourceId: string, key: string, file: string | undefined, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        const body = file === undefined || file === '-' ? stdinBytes(ctx.io) : createReadStream(file);
        const stored = await tp.putObject(resourceId, key, body);
        if (opts.json === true) printJson(ctx.io, stored);
        else ctx.io.out(`${stored.key}: ${stored.size} bytes stored in ${resourceId}`);
      }),
    );

  object
    .command('get')
    .argument('<resourceId>', 'a storage resource (res_…)', resource)
    .argument('<key>', 'the object key')
    .argument('[file]', 'where to write it (a new file); standard output when left out or "-"')
    .description('read an object to a file or standard output, byte for byte')
    .option('--json', 'with a file: print what was written as JSON')
    .action((resourceId: string, key: string, file: string | undefined, opts: { json?: boolean }) => {
      const toOut = file === undefined || file === '-';
      if (toOut && opts.json === true)
        throw new BulkheadError(
          'invalid_request',
          'get --json needs a file: the object itself goes to stdout.',
        );
      return ctx.withTenantPlane(async (tp) => {
        const found = await tp.getObject(resourceId, key);
        if (toOut) return toStdout(ctx.io, found.body);
        await toFile(file, found.body);
        if (opts.json === true) printJson(ctx.io, { key, size: found.size, file });
        else ctx.io.out(`${key}: ${found.size} bytes written to ${file}`);
      });
    });

  object
    .command('delete')
    .argument('<resourceId>', 'a storage resource (res_…)', resource)
    .argument('<key>', 'the object key')
    .description('delete an object: its data and key are overwritten, then removed')
    .option('--json', 'print JSON')
    .action((resourceId: string, key: string, opts: { json?: boolean }) =>
      ctx.withTenantPlane(async (tp) => {
        await tp.deleteObject(resourceId, key);
        if (opts.json === true) printJson(ctx.io, { key, deleted: true });
        else ctx.io.out(`${key} deleted from ${resourceId}`);
      }),
    );
}
