// `bulkhead billing …` and `bulkhead invoice …`: the price book, a domain's billing details, closing a
// period, a domain's usage, and its invoices (list, show, the PDF to a file, pay, void). Operator
// commands: through a server with --url (and BULKHEAD_OPERATOR_TOKEN), or on the store; one request each.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { PriceBookInput } from '../../billing/service.js';
import {
  idOf,
  parseTime,
  printJson,
  printMany,
  printOne,
  printTable,
  readJsonFile,
  resolveDomain,
  wholeNumber,
  type CliContext,
} from '../context.js';

const invoiceColumns = [
  'id',
  'number',
  'period',
  'currency',
  'total',
  'status',
  'closedAt',
  'paymentReference',
];
const lineColumns = [
  'position',
  'meter',
  'unit',
  'quantity',
  'included',
  'billable',
  'unitPrice',
  'per',
  'amount',
];
const detailColumns = ['domainId', 'name', 'addressLines', 'city', 'postalCode', 'country', 'email', 'taxId'];
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerBilling(program: Command, ctx: CliContext): void {
  const billing = program
    .command('billing')
    .description('the price book, billing details, closing periods and usage (operator)');

  const prices = billing.command('prices').description('the price book');
  prices
    .command('get')
    .description('print the price book')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const book = await cp.getPrices();
        if (opts.json === true) return printJson(ctx.io, book);
        ctx.io.out(`currency ${book.currency}`);
        printTable(
          ctx.io,
          book.meters.map((m) => ({ ...m, overrides: m.overrides.length })),
          ['meter', 'unit', 'unitPrice', 'per', 'included', 'overrides'],
        );
      }),
    );
  prices
    .command('set')
    .description('replace the price book with a JSON file: {"currency": "EUR", "meters": [...]}')
    .requiredOption('--file <path>', 'the price book, as PUT /v1/billing/prices takes it')
    .option('--json', 'print JSON')
    .action((opts: { file: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const book = await cp.setPrices(await readJsonFile<PriceBookInput>(opts.file));
        if (opts.json === true) printJson(ctx.io, book);
        else ctx.io.out(`price book set: ${book.meters.length} meters in ${book.currency}`);
      }),
    );

  const details = billing
    .command('details')
    .description("a domain's billing details (its invoices' address)");
  details
    .command('get')
    .argument('<domain>', 'id or slug')
    .option('--json', 'print JSON')
    .action((domain: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) =>
        printOne(
          ctx.io,
          await cp.getBillingDetails(await resolveDomain(cp, domain)),
          detailColumns,
          opts.json,
        ),
      ),
    );
  details
    .command('set')
    .argument('<domain>', 'id or slug')
    .requiredOption('--name <name>', 'who the invoices are made out to')
    .requiredOption('--address <line>', 'a line of the street address (repeat for up to 4)', collect)
    .requiredOption('--city <city>', 'the city')
    .requiredOption('--postal-code <code>', 'the postal code')
    .requiredOption('--country <code>', 'ISO 3166-1 alpha-2, e.g. DE')
    .requiredOption('--email <address>', 'where invoices go')
    .option('--tax-id <id>', 'a VAT or tax number')
    .option('--json', 'print JSON')
    .action(
      (
        domain: string,
        opts: {
          name: string;
          address: string[];
          city: string;
          postalCode: string;
          country: string;
          email: string;
          taxId?: string;
          json?: boolean;
        },
      ) =>
        ctx.withControlPlane(async (cp) => {
          const set = await cp.setBillingDetails(await resolveDomain(cp, domain), {
            name: opts.name,
            addressLines: opts.address,
            city: opts.city,
            postalCode: opts.postalCode,
            country: opts.country,
            email: opts.email,
            taxId: opts.taxId ?? null,
          });
          printOne(ctx.io, set, detailColumns, opts.json);
        }),
    );

  billing
    .command('close')
    .argument('<period>', 'a month that has ended, YYYY-MM')
    .description("write every domain's invoice for the month (or one domain's with --domain)")
    .option('--domain <domain>', 'only this domain (id or slug)')
    .option('--json', 'print JSON')
    .action((period: string, opts: { domain?: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const domainId = opts.domain === undefined ? undefined : await resolveDomain(cp, opts.domain);
        printOne(
          ctx.io,
          await cp.closePeriod(period, domainId),
          ['period', 'created', 'existing'],
          opts.json,
        );
      }),
    );

  billing
    .command('usage')
    .argument('<domain>', 'id or slug')
    .description("a domain's usage per UTC day and meter over [--from, --to)")
    .requiredOption('--from <time>', 'ISO 8601', parseTime)
    .requiredOption('--to <time>', 'ISO 8601', parseTime)
    .option('--meter <meter>', 'only this meter')
    .option('--json', 'print JSON')
    .action((domain: string, opts: { from: Date; to: Date; meter?: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const items = await cp.listUsage(await resolveDomain(cp, domain), {
          from: opts.from.toISOString(),
          to: opts.to.toISOString(),
          meter: opts.meter,
        });
        printMany(ctx.io, items, ['day', 'meter', 'quantity'], opts.json);
      }),
    );

  const invoice = program.command('invoice').description("a domain's invoices (operator)");
  invoice
    .command('list')
    .argument('<domain>', 'id or slug')
    .description('newest first')
    .option('--limit <n>', 'at most this many (1–100, default 20)', wholeNumber(1, 100))
    .option('--before <number>', 'only those numbered below', wholeNumber(1, 2_147_483_647))
    .option('--json', 'print JSON')
    .action((domain: string, opts: { limit?: number; before?: number; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const items = await cp.listInvoices(await resolveDomain(cp, domain), {
          limit: opts.limit ?? 20,
          before: opts.before,
        });
        printMany(ctx.io, items, invoiceColumns, opts.json);
      }),
    );
  invoice
    .command('show')
    .argument('<domain>', 'id or slug')
    .argument('<invoiceId>', 'inv_…', idOf('invoice'))
    .description('an invoice with its lines')
    .option('--json', 'print JSON')
    .action((domain: string, invoiceId: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const found = await cp.getInvoice(await resolveDomain(cp, domain), invoiceId);
        if (opts.json === true) return printJson(ctx.io, found);
        printTable(ctx.io, [{ ...found }], [...invoiceColumns, 'subtotal', 'contentHash']);
        ctx.io.out('');
        printTable(
          ctx.io,
          found.lines.map((l) => ({ ...l })),
          lineColumns,
        );
      }),
    );
  invoice
    .command('pdf')
    .argument('<domain>', 'id or slug')
    .argument('<invoiceId>', 'inv_…', idOf('invoice'))
    .description('write the invoice as a PDF to --out')
    .requiredOption('--out <file>', 'where to write it')
    .option('--json', 'print JSON')
    .action((domain: string, invoiceId: string, opts: { out: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) => {
        const pdf = await cp.invoicePdf(await resolveDomain(cp, domain), invoiceId);
        await writeFile(opts.out, pdf);
        if (opts.json === true) printJson(ctx.io, { invoiceId, file: opts.out, bytes: pdf.byteLength });
        else ctx.io.out(`${opts.out}: ${pdf.byteLength} bytes`);
      }),
    );
  invoice
    .command('pay')
    .argument('<domain>', 'id or slug')
    .argument('<invoiceId>', 'inv_…', idOf('invoice'))
    .description('mark an open or uncollectible invoice paid')
    .requiredOption('--reference <text>', "the payment's reference")
    .option('--json', 'print JSON')
    .action((domain: string, invoiceId: string, opts: { reference: string; json?: boolean }) =>
      ctx.withControlPlane(async (cp) =>
        printOne(
          ctx.io,
          await cp.setInvoiceStatus(await resolveDomain(cp, domain), invoiceId, 'paid', opts.reference),
          invoiceColumns,
          opts.json,
        ),
      ),
    );
  invoice
    .command('void')
    .argument('<domain>', 'id or slug')
    .argument('<invoiceId>', 'inv_…', idOf('invoice'))
    .description('void an open or uncollectible invoice')
    .option('--json', 'print JSON')
    .action((domain: string, invoiceId: string, opts: { json?: boolean }) =>
      ctx.withControlPlane(async (cp) =>
        printOne(
          ctx.io,
          await cp.setInvoiceStatus(await resolveDomain(cp, domain), invoiceId, 'void'),
          invoiceColumns,
          opts.json,
        ),
      ),
    );
}
