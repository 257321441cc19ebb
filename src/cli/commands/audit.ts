import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { InvalidArgumentError, type Command } from 'commander';
import type { AuditEvent } from '../../audit/events.js';
import type { AuditFilter } from '../../audit/log.js';
import {
  printJson,
  printTable,
  resolveDomain,
  wholeNumber,
  withProgress,
  type CliContext,
} from '../context.js';
import type { ControlPlane } from '../control-plane.js';

interface FilterOptions {
  domain?: string;
  action?: string;
  since?: string;
  until?: string;
}

function time(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`${flag} is not a valid time`);
  return date;
}

async function filterOf(cp: ControlPlane, opts: FilterOptions): Promise<AuditFilter> {
  return {
    domainId: opts.domain === undefined ? undefined : await resolveDomain(cp, opts.domain),
    action: opts.action,
    since: time(opts.since, '--since'),
    until: time(opts.until, '--until'),
  };
}

function withFilters(command: Command): Command {
  return command
    .option('--domain <domain>', 'only events of this domain (id or slug)')
    .option('--action <action>', 'only this action, e.g. key.authenticate')
    .option('--since <time>', 'only events at or after this ISO 8601 time')
    .option('--until <time>', 'only events before this ISO 8601 time');
}

/** Every matching event, oldest first, read page by page. */
async function* allEvents(cp: ControlPlane, filter: AuditFilter): AsyncGenerator<AuditEvent> {
  let after = 0;
  for (;;) {
    const page = await cp.listAudit({ ...filter, after, limit: 1000 });
    yield* page;
    if (page.length < 1000) return;
    after = page.at(-1)!.seq;
  }
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('read, check and export the hash-chained audit log');

  withFilters(audit.command('list'))
    .description('list audit events, oldest first')
    .option(
      '--after <seq>',
      'only events after this sequence number',
      wholeNumber(0, Number.MAX_SAFE_INTEGER),
      0,
    )
    .option('--limit <n>', 'at most this many (1-1000)', wholeNumber(1, 1000), 100)
    .option('--json', 'print JSON')
    .action((opts: FilterOptions & { after: number; limit: number; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const items = await cp.listAudit({
          ...(await filterOf(cp, opts)),
          after: opts.after,
          limit: opts.limit,
        });
        if (opts.json === true) return printJson(ctx.io, items);
        printTable(
          ctx.io,
          items.map((e) => ({
            ...e,
            detail: Object.keys(e.detail).length === 0 ? null : JSON.stringify(e.detail),
          })),
          ['seq', 'at', 'domainId', 'actor', 'action', 'target', 'outcome', 'detail'],
        );
      }),
    );

  audit
    .command('verify')
    .description('walk the hash chain; exit 1 and name the first broken link if any event was changed')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const report = await withProgress(ctx.io, 'bulkhead: walking the audit chain…', () =>
          cp.verifyAudit(),
        );
        if (opts.json === true) printJson(ctx.io, report);
        else if (report.ok)
          ctx.io.out(
            `audit chain intact: ${report.checked} events, head ${report.headSeq} ${report.headHash}`,
          );
        else {
          const b = report.broken!;
          ctx.io.err(
            `audit chain broken at event ${b.seq}${b.eventId === null ? '' : ` (${b.eventId})`}: ${b.reason}; ` +
              `${report.checked} events before it are intact`,
          );
        }
        if (!report.ok) ctx.exitCode = 1;
      }),
    );

  withFilters(audit.command('export'))
    .description('write audit events as JSON lines, oldest first')
    .option('--output <file>', 'write to this file instead of standard output')
    .action((opts: FilterOptions & { output?: string }) =>
      ctx.withControlPlane(async (cp) => {
        const filter = await filterOf(cp, opts);
        if (opts.output === undefined) {
          for await (const event of allEvents(cp, filter)) ctx.io.out(JSON.stringify(event));
          return;
        }
        const file = createWriteStream(opts.output, { flags: 'wx', mode: 0o600 });
        let count = 0;
        for await (const event of allEvents(cp, filter)) {
          if (!file.write(`${JSON.stringify(event)}\n`)) await once(file, 'drain');
          count++;
        }
        file.end();
        await once(file, 'finish');
        ctx.io.err(`wrote ${count} events to ${opts.output}`);
      }),
    );
}
