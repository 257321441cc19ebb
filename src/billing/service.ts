// Billing: what each domain used, what it costs, and the invoice a closed period leaves. Everything of a
// domain runs in that domain's own transaction (its usage, its overrides, its invoices), so no code path
// here can count one domain's usage toward another or show it another's invoice; only the price book,
// which belongs to no domain, and the list of domains a close walks are read in the system context.
// Closing bills each domain in a transaction of its own: a crash leaves every domain with its complete
// invoice or none, and closing again finishes the rest without a duplicate (one invoice per period).
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { timestampOf } from '../domain/timestamp.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { Failpoint } from '../domain/failpoints.js';
import { findDomain } from '../store/repositories/domains.js';
import {
  billingMeters,
  deleteDomainInvoices,
  domainPriceOverrides,
  domainsToBill,
  domainsWithExpiredInvoices,
  insertInvoice,
  insertResourceUsage,
  invoiceForPeriod,
  invoiceLinesStatement,
  invoicesStatement,
  invoiceStatement,
  invoicesToPurge,
  liveDomainIds,
  lockBillingPeriod,
  lockInvoice,
  lockInvoiceNumbering,
  lockPriceBook,
  nextInvoiceNumber,
  priceOverrides,
  replacePriceBook,
  setInvoiceStatus,
  recordOutcome,
  recordUsageStatement,
  usageByDayStatement,
  usageTotals,
  type MeterPrice,
  type NewUsage,
  type RecordOutcome,
} from '../store/repositories/billing.js';
import {
  billingDetailsStatement,
  detailsWrittenInThisTransaction,
  saveBillingDetailsStatement,
} from '../store/repositories/billing-details.js';
import { saveSetting, setting } from '../store/repositories/settings.js';
import {
  checkBillingDetails,
  detailsView,
  type BillingDetailsInput,
  type BillingDetailsView,
} from './details.js';
import type { InvoiceLineRow, InvoiceRow, InvoiceStatus, UsageSource } from '../store/schema.js';
import type { DomainTx, Store } from '../store/store.js';
import { rowView } from '../store/views.js';
import { unpaidInvoiceCount } from '../store/repositories/payments.js';
import { invoiceHash, type InvoiceContent } from '../audit/invoice-hash.js';
import { lineAmount, sum, type Price } from './money.js';
import { periodBounds, periodOf } from './periods.js';
import { renderInvoicePdf } from './pdf.js';

/** The setting that names the price book's one currency (ISO 4217). */
const currencySetting = 'billing.currency';
/** The currency until the operator sets a price book. */
const defaultCurrency = 'USD';
/** Meters Bulkhead records itself (`resource.<kind>`): no one records them through the API. */
const ownMeterPrefix = 'resource.';
/** How far ahead of this server's clock a usage record's `at` may be (the recording service's clock skew). */
const maxClockAheadMs = 5 * 60_000;
/** The most a single integer of billing (a quantity, a price, an amount) may be: JSON numbers stay exact. */
export const maxBillingInteger = BigInt(Number.MAX_SAFE_INTEGER);

/** A meter as the price book shows it; integers in the meter's unit and minor units of the currency. */
export interface MeterView {
  readonly meter: string;
  readonly unit: string;
  readonly unitPrice: number;
  readonly per: number;
  readonly included: number;
  readonly overrides: {
    readonly domainId: string;
    readonly unitPrice: number;
    readonly per: number;
    readonly included: number;
  }[];
}

export interface PriceBookView {
  readonly currency: string;
  readonly meters: MeterView[];
}

/** A price book to set, as the API takes it. */
export interface PriceBookInput {
  readonly currency: string;
  readonly meters: readonly {
    readonly meter: string;
    readonly unit: string;
    readonly unitPrice: number;
    readonly per?: number | undefined;
    readonly included?: number | undefined;
    readonly overrides?:
      | readonly {
          readonly domainId: string;
          readonly unitPrice: number;
          readonly per?: number | undefined;
          readonly included?: number | undefined;
        }[]
      | undefined;
  }[];
}

export interface UsageInput {
  readonly meter: string;
  readonly quantity: number;
  readonly eventId: string;
  readonly at: string;
}

/** A usage record to count, from the API or metered by Bulkhead: as stored, but for its domain and when. */
type UsageToCount<S extends UsageSource = UsageSource> = Omit<NewUsage, 'domainId' | 'recordedAt'> & {
  readonly source: S;
};

export interface UsageRecordView {
  readonly eventId: string;
  readonly meter: string;
  readonly quantity: number;
  readonly at: string;
  /** False when a record with this event id was there already (a retry): it counted once. */
  readonly recorded: boolean;
}

export interface UsageBucket {
  readonly day: string;
  readonly meter: string;
  readonly quantity: number;
}

export interface InvoiceLineView {
  readonly position: number;
  readonly meter: string;
  readonly unit: string;
  readonly quantity: number;
  readonly included: number;
  readonly billable: number;
  readonly unitPrice: number;
  readonly per: number;
  readonly amount: number;
}

export interface InvoiceView {
  readonly id: string;
  readonly domainId: string;
  readonly number: number;
  readonly period: string;
  readonly currency: string;
  readonly subtotal: number;
  readonly total: number;
  readonly contentHash: string;
  readonly closedAt: string;
  readonly status: InvoiceStatus;
  readonly statusChangedAt: string | null;
  readonly paymentReference: string | null;
}

/** An invoice with its lines. */
export interface InvoiceWithLines extends InvoiceView {
  readonly lines: InvoiceLineView[];
}

export interface CloseResult {
  readonly period: string;
  /** Invoices this close wrote. */
  readonly created: number;
  /** Domains that had their invoice for the period already (an earlier close, or one that crashed). */
  readonly existing: number;
}

/** The status changes an operator may make, from each status. */
const transitions: Readonly<Record<InvoiceStatus, readonly InvoiceStatus[]>> = {
  open: ['paid', 'void', 'uncollectible'],
  uncollectible: ['paid', 'void'],
  paid: [],
  void: [],
};

/** A stored integer (number or bigint, as the driver reads int8) as bigint. */
const big = (value: number | bigint | string): bigint => BigInt(value);

/** A bigint the API can answer as an exact JSON number; `number_out_of_range` beyond that. */
function exact(value: bigint): number {
  if (value > maxBillingInteger || value < -maxBillingInteger)
    throw new BulkheadError(
      'number_out_of_range',
      'A billing amount is beyond what the API answers exactly.',
    );
  return Number(value);
}

function lineView(row: InvoiceLineRow): InvoiceLineView {
  return {
    position: row.position,
    meter: row.meter,
    unit: row.unit,
    quantity: exact(big(row.quantity)),
    included: exact(big(row.included)),
    billable: exact(big(row.billable)),
    unitPrice: exact(big(row.unit_price)),
    per: exact(big(row.per)),
    amount: exact(big(row.amount)),
  };
}

/** The API's view of an invoice. */
export function invoiceView(row: InvoiceRow): InvoiceView {
  const columns = [
    'id',
    'domain_id',
    'number',
    'period',
    'currency',
    'subtotal',
    'total',
    'content_hash',
    'closed_at',
    'status',
    'status_changed_at',
    'payment_reference',
  ] as const;
  return { ...rowView(row, columns), subtotal: exact(big(row.subtotal)), total: exact(big(row.total)) };
}

interface Book {
  readonly currency: string;
  readonly meters: ReadonlyMap<string, MeterPrice>;
}

/** A period being closed: its month, its bounds [start, end) and the price book it is closed with. */
interface PeriodClose {
  readonly period: string;
  readonly start: Date;
  readonly end: Date;
  readonly book: Book;
}

export interface BillingOptions {
  readonly store: Store;
  /** Domains closed at once while closing a period. */
  readonly closeConcurrency?: number;
  /** `mid-close` kills the process with the sixth invoice of a close written but not committed (tests). */
  readonly failpoint?: Failpoint | undefined;
  /**
   * In the domain's transaction, once a payment left it with no unpaid invoice (`open`, `uncollectible`):
   * resumes a domain suspended for non-payment (runtime.ts hands in the domains' own step).
   */
  readonly onSettled?: ((tx: DomainTx, actor: Actor, domainId: string) => Promise<unknown>) | undefined;
  /**
   * After a close has found or written a domain's invoice for the period, outside its transaction: charges
   * it when closing charges (runtime.ts hands in the payments' step). Its failure never fails the close.
   */
  readonly afterClose?: ((actor: Actor, domainId: string, period: string) => Promise<unknown>) | undefined;
  /** The platform's name at the head of invoice PDFs (default `Bulkhead`). */
  readonly platformName?: string | undefined;
  /**
   * How long a deleted domain's invoices are kept after its deletion, in milliseconds, before
   * `purgeExpiredInvoices` deletes them (default `defaultInvoiceRetentionMs`).
   */
  readonly invoiceRetentionMs?: number | undefined;
}

/** Ten years of 366 days: invoices are legal records, kept at least as long as most laws ask. */
export const defaultInvoiceRetentionMs = 10 * 366 * 86_400_000;

export class BillingService {
  private readonly store: Store;
  private readonly closeConcurrency: number;
  private readonly failpoint: Failpoint | undefined;
  private readonly onSettled: BillingOptions['onSettled'];
  private readonly afterClose: BillingOptions['afterClose'];
  readonly platformName: string;
  readonly invoiceRetentionMs: number;
  /** Invoices written by this process, for the `mid-close` failpoint. */
  private written = 0;

  constructor(options: BillingOptions) {
    this.store = options.store;
    this.closeConcurrency = options.closeConcurrency ?? 4;
    this.failpoint = options.failpoint;
    this.onSettled = options.onSettled;
    this.afterClose = options.afterClose;
    this.platformName = options.platformName ?? 'Bulkhead';
    this.invoiceRetentionMs = options.invoiceRetentionMs ?? defaultInvoiceRetentionMs;
  }

  /** The domain's billing details; `not_found` when it has set none. */
  async details(domainId: string): Promise<BillingDetailsView> {
    const [rows] = await this.store.read(domainId, (db) => [billingDetailsStatement(db, domainId)]);
    const row = rows[0];
    if (row === undefined) throw new BulkheadError('not_found', 'The domain has no billing details yet.');
    return detailsView(row);
  }

  /**
   * Sets the domain's billing details (all of them at once) and audits it, in one message: the details
   * are written only while the domain exists and is not deleted (`not_found` otherwise), and the audit
   * event only when they were.
   */
  async setDetails(actor: Actor, domainId: string, input: BillingDetailsInput): Promise<BillingDetailsView> {
    checkBillingDetails(input);
    const [rows] = await this.store.change(domainId, async (db) => {
      const save = saveBillingDetailsStatement(db, {
        domainId,
        name: input.name,
        addressLines: input.addressLines,
        city: input.city,
        postalCode: input.postalCode,
        country: input.country,
        email: input.email,
        taxId: input.taxId ?? null,
        updatedAt: new Date(),
      });
      await appendAudit(
        db,
        {
          domainId,
          actor: actor.actor,
          requestId: actor.requestId,
          action: 'billing.details',
          target: domainId,
          outcome: 'success',
          detail: { country: input.country },
        },
        { when: detailsWrittenInThisTransaction(domainId) },
      );
      return [save] as const;
    });
    const row = rows[0];
    if (row === undefined) throw notFound();
    return detailsView(row);
  }

  /**
   * Records usage for the domain, once per event id: a second record with the same event id and the
   * same content counts nothing and answers `recorded: false`; one with other content is
   * `idempotency_conflict`. The meter must be in the price book; usage of a period already closed for
   * the domain is `period_closed`. The record itself is the log of it: no audit event is written.
   */
  async recordUsage(domainId: string, input: UsageInput): Promise<UsageRecordView> {
    if (input.meter.startsWith(ownMeterPrefix))
      throw new BulkheadError(
        'unknown_meter',
        `Meters named ${ownMeterPrefix}… are recorded by Bulkhead itself.`,
      );
    const at = timestampOf(input.at);
    if (at.getTime() > Date.now() + maxClockAheadMs)
      throw new BulkheadError('invalid_request', '`at` is in the future (more than 5 minutes ahead).');
    const quantity = BigInt(input.quantity);
    const outcome = await this.record(domainId, {
      eventId: input.eventId,
      meter: input.meter,
      quantity,
      at,
      source: 'api',
    });
    if (!outcome.meterKnown)
      throw new BulkheadError('unknown_meter', `The price book has no meter "${input.meter}".`);
    if (outcome.periodClosed && !outcome.inserted)
      throw new BulkheadError(
        'period_closed',
        `The period ${periodOf(at)} is closed: its invoice is written.`,
      );
    if (!outcome.inserted) {
      const stored = outcome.stored;
      if (
        stored === undefined ||
        stored.meter !== input.meter ||
        stored.quantity !== quantity ||
        stored.at.getTime() !== at.getTime()
      )
        throw new BulkheadError('idempotency_conflict', 'This event id was recorded with other usage.');
    }
    return {
      eventId: input.eventId,
      meter: input.meter,
      quantity: input.quantity,
      at: at.toISOString(),
      recorded: outcome.inserted,
    };
  }

  /**
   * Records one usage record in one message (`Store.change`) of one statement (`record_usage`): the
   * period's shared lock, the insert when the meter is priced (any meter for Bulkhead's own, `source` not
   * `api`) and the period has no invoice, and what happened, so the caller can tell a retry from a conflict.
   */
  private async record(domainId: string, usage: UsageToCount): Promise<RecordOutcome> {
    const [rows] = await this.store.change(domainId, (db) => [
      recordUsageStatement(db, {
        domainId,
        ...usage,
        recordedAt: new Date(),
        period: periodOf(usage.at),
        anyMeter: usage.source !== 'api',
      }),
    ]);
    return recordOutcome(rows);
  }

  /**
   * Records usage Bulkhead metered itself (API requests, stored bytes): any meter, once per event id; a
   * record of a period already closed for the domain is dropped (false), as is a repeated event id.
   * True when it counted.
   */
  async recordOwnUsage(
    domainId: string,
    usage: UsageToCount<Exclude<UsageSource, 'api' | 'resources'>>,
  ): Promise<boolean> {
    return (await this.record(domainId, usage)).inserted;
  }

  /** The domain's usage over [from, to), summed per UTC day and meter (at most 10,000 buckets). */
  async usage(
    domainId: string,
    filter: { readonly from: string; readonly to: string; readonly meter?: string | undefined },
  ): Promise<UsageBucket[]> {
    const from = timestampOf(filter.from);
    const to = timestampOf(filter.to);
    if (to.getTime() < from.getTime())
      throw new BulkheadError('invalid_request', '`to` must not be before `from`.');
    const [rows] = await this.store.read(domainId, (db) => [
      usageByDayStatement(db, domainId, { from, to, meter: filter.meter, limit: 10_000 }),
    ]);
    return rows.map((r) => ({ day: r.day, meter: r.meter, quantity: exact(BigInt(r.quantity)) }));
  }

  /** The price book, with every domain's overrides (the operator's view). */
  async prices(): Promise<PriceBookView> {
    return this.store.system('operator', async (tx) => {
      const meters = await billingMeters(tx);
      const overrides = await priceOverrides(tx);
      const currency = await setting(tx, currencySetting).catch(() => defaultCurrency);
      return {
        currency,
        meters: meters.map((m) => ({
          meter: m.meter,
          unit: m.unit,
          unitPrice: exact(big(m.unit_price)),
          per: exact(big(m.per)),
          included: exact(big(m.included)),
          overrides: overrides
            .filter((o) => o.meter === m.meter)
            .map((o) => ({
              domainId: o.domain_id,
              unitPrice: exact(big(o.unit_price)),
              per: exact(big(o.per)),
              included: exact(big(o.included)),
            })),
        })),
      };
    });
  }

  /**
   * Replaces the price book. An override naming a domain that does not exist (or is deleted) is
   * `not_found`, like any unknown domain. Invoices already closed keep the prices they were closed with.
   */
  async setPrices(actor: Actor, input: PriceBookInput): Promise<PriceBookView> {
    const names = input.meters.map((m) => m.meter);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined)
      throw new BulkheadError('invalid_request', `The meter "${duplicate}" is named twice.`);
    const own = names.find((name) => name.startsWith(ownMeterPrefix) && !/^resource\.[a-z]+$/.test(name));
    if (own !== undefined)
      throw new BulkheadError('unknown_meter', `Meters named ${ownMeterPrefix}… are resource.<kind>.`);
    const meters: MeterPrice[] = input.meters.map((m) => ({
      meter: m.meter,
      unit: m.unit,
      unitPrice: BigInt(m.unitPrice),
      per: BigInt(m.per ?? 1),
      included: BigInt(m.included ?? 0),
    }));
    const overrides = input.meters.flatMap((m) =>
      (m.overrides ?? []).map((o) => ({
        meter: m.meter,
        domainId: o.domainId,
        unitPrice: BigInt(o.unitPrice),
        per: BigInt(o.per ?? m.per ?? 1),
        included: BigInt(o.included ?? m.included ?? 0),
      })),
    );
    const pairs = overrides.map((o) => `${o.meter} ${o.domainId}`);
    if (new Set(pairs).size !== pairs.length)
      throw new BulkheadError('invalid_request', 'A domain has two overrides for one meter.');
    await this.store.system('operator', async (tx) => {
      await lockPriceBook(tx);
      const domains = [...new Set(overrides.map((o) => o.domainId))];
      if ((await liveDomainIds(tx, domains)).length !== domains.length) throw notFound();
      await replacePriceBook(tx, meters, overrides, new Date());
      await saveSetting(tx, currencySetting, input.currency);
      await appendAudit(tx, {
        domainId: null,
        actor: actor.actor,
        requestId: actor.requestId,
        action: 'billing.prices',
        target: null,
        outcome: 'success',
        detail: { currency: input.currency, meters: names },
      });
    });
    return this.prices();
  }

  /**
   * Closes `period` (a month, `YYYY-MM`, that has ended by `now`): every domain that existed during it
   * gets its invoice, each in a transaction of its own. Closing again writes only what is missing.
   */
  async closePeriod(actor: Actor, period: string, now: Date = new Date()): Promise<CloseResult> {
    const { start, end } = periodBounds(period);
    if (end.getTime() > now.getTime())
      throw new BulkheadError('period_open', `The period ${period} has not ended yet.`);
    const book = await this.book();
    let created = 0;
    let existing = 0;
    let after: string | null = null;
    for (;;) {
      const page: string[] = await this.store.system('operator', (tx) =>
        domainsToBill(tx, start, end, after, 500),
      );
      if (page.length === 0) break;
      after = page.at(-1)!;
      for (let i = 0; i < page.length; i += this.closeConcurrency) {
        const results = await Promise.all(
          page
            .slice(i, i + this.closeConcurrency)
            .map((domainId) => this.closeAndCharge(actor, domainId, { period, start, end, book })),
        );
        for (const wrote of results) {
          if (wrote) created++;
          else existing++;
        }
      }
    }
    return { period, created, existing };
  }

  /**
   * Closes `period` for one domain only, whether or not it existed during the month (its invoice may have
   * no line): for a domain's final invoice before the whole period is closed. The rest as `closePeriod`.
   */
  async closeDomainPeriod(
    actor: Actor,
    domainId: string,
    period: string,
    now: Date = new Date(),
  ): Promise<CloseResult> {
    const { start, end } = periodBounds(period);
    if (end.getTime() > now.getTime())
      throw new BulkheadError('period_open', `The period ${period} has not ended yet.`);
    const book = await this.book();
    const wrote = await this.closeAndCharge(actor, domainId, { period, start, end, book });
    return { period, created: wrote ? 1 : 0, existing: wrote ? 0 : 1 };
  }

  /** The price book as a close applies it. */
  private book(): Promise<Book> {
    return this.store.system('operator', async (tx): Promise<Book> => {
      const rows = await billingMeters(tx);
      const currency = await setting(tx, currencySetting).catch(() => defaultCurrency);
      return {
        currency,
        meters: new Map(
          rows.map((m) => [
            m.meter,
            {
              meter: m.meter,
              unit: m.unit,
              unitPrice: big(m.unit_price),
              per: big(m.per),
              included: big(m.included),
            },
          ]),
        ),
      };
    });
  }

  /**
   * `closeDomain`, then the `afterClose` step (the charge) for the domain's invoice, whether this close
   * wrote it or an earlier one did: a close a crash interrupted between the two charges it when run
   * again, and the step itself decides what was charged already.
   */
  private async closeAndCharge(actor: Actor, domainId: string, closing: PeriodClose): Promise<boolean> {
    const wrote = await this.closeDomain(actor, domainId, closing);
    await this.afterClose?.(actor, domainId, closing.period).catch(() => undefined);
    return wrote;
  }

  /** Writes the domain's invoice for the period unless it has one; true when it wrote it. */
  private closeDomain(
    actor: Actor,
    domainId: string,
    { period, start, end, book }: PeriodClose,
  ): Promise<boolean> {
    return this.store.withDomain(domainId, async (tx) => {
      if ((await findDomain(tx, domainId)) === undefined) throw notFound();
      await lockBillingPeriod(tx, domainId, period, 'close');
      if ((await invoiceForPeriod(tx, domainId, period)) !== undefined) return false;
      await lockInvoiceNumbering(tx, domainId);
      const closedAt = new Date();
      await insertResourceUsage(tx, domainId, period, start, end, closedAt);
      const totals = await usageTotals(tx, domainId, start, end);
      const overrides = new Map((await domainPriceOverrides(tx, domainId)).map((o) => [o.meter, o]));
      const lines = totals.map((t, i) => {
        const meter = book.meters.get(t.meter);
        const override = overrides.get(t.meter);
        // Usage of a meter the book does not price (any more) is shown, at no cost.
        const price: Price =
          override !== undefined
            ? {
                unitPrice: big(override.unit_price),
                per: big(override.per),
                included: big(override.included),
              }
            : (meter ?? { unitPrice: 0n, per: 1n, included: 0n });
        const amount = lineAmount(BigInt(t.quantity), price);
        return {
          position: i + 1,
          meter: t.meter,
          unit: meter?.unit ?? (t.meter.startsWith(ownMeterPrefix) ? 'second' : 'unit'),
          ...amount,
          unitPrice: price.unitPrice,
          per: price.per,
        };
      });
      const subtotal = sum(lines.map((l) => l.amount));
      if (subtotal > maxBillingInteger || lines.some((l) => l.quantity > maxBillingInteger))
        throw new BulkheadError(
          'number_out_of_range',
          `The invoice of ${domainId} for ${period} exceeds ${maxBillingInteger} minor units or units.`,
        );
      const content: InvoiceContent = {
        id: newId('invoice'),
        domainId,
        number: await nextInvoiceNumber(tx, domainId),
        period,
        currency: book.currency,
        subtotal,
        // Tax is not computed: the total is the subtotal (docs/billing.md).
        total: subtotal,
        closedAt,
        lines,
      };
      const contentHash = invoiceHash(content);
      await insertInvoice(tx, { ...content, contentHash });
      await appendAudit(tx, {
        domainId,
        actor: actor.actor,
        requestId: actor.requestId,
        action: 'invoice.close',
        target: content.id,
        outcome: 'success',
        detail: {
          period,
          number: content.number,
          total: subtotal.toString(),
          currency: book.currency,
          contentHash,
        },
      });
      if (this.failpoint === 'mid-close' && ++this.written === 6) process.kill(process.pid, 'SIGKILL');
      return true;
    });
  }

  /**
   * Purges the invoices (with their lines and payment attempts) of every domain deleted more than the
   * retention period before `now`, each domain in its own transaction, and audits each invoice purged
   * (`invoice.purge`, with the hash its close recorded) in the domain's chain. Answers how many invoices.
   * The database refuses to delete a live domain's invoice (migration 0025), whatever is asked here.
   */
  async purgeExpiredInvoices(now: Date = new Date()): Promise<number> {
    const deletedBefore = new Date(now.getTime() - this.invoiceRetentionMs);
    let purged = 0;
    let after: string | null = null;
    for (;;) {
      const domains: string[] = await this.store.system('reconciler', (tx) =>
        domainsWithExpiredInvoices(tx, deletedBefore, after, 100),
      );
      if (domains.length === 0) return purged;
      after = domains.at(-1)!;
      for (const domainId of domains) {
        purged += await this.store.withDomain(domainId, async (tx) => {
          const domain = await findDomain(tx, domainId);
          if (
            domain?.status !== 'deleted' ||
            domain.deleted_at === null ||
            domain.deleted_at >= deletedBefore
          )
            return 0;
          const invoices = await invoicesToPurge(tx, domainId);
          const deleted = await deleteDomainInvoices(tx, domainId);
          // The database deletes only a deleted domain's rows; anything else undoes the purge.
          if (deleted !== invoices.length)
            throw new BulkheadError('internal', `The invoices of ${domainId} were not all purged.`);
          for (const invoice of invoices)
            await appendAudit(tx, {
              domainId,
              actor: 'system:billing',
              requestId: null,
              action: 'invoice.purge',
              target: invoice.id,
              outcome: 'success',
              detail: {
                number: invoice.number,
                period: invoice.period,
                contentHash: invoice.content_hash,
                deletedAt: domain.deleted_at.toISOString(),
                retentionDays: Math.floor(this.invoiceRetentionMs / 86_400_000),
              },
            });
          return deleted;
        });
      }
    }
  }

  /** The domain's invoices, newest first, without lines; page with `beforeNumber`. */
  async invoices(
    domainId: string,
    filter: { readonly limit: number; readonly beforeNumber?: number | undefined },
  ): Promise<InvoiceView[]> {
    const [rows] = await this.store.read(domainId, (db) => [invoicesStatement(db, domainId, filter)]);
    return rows.map((row) => invoiceView(row));
  }

  /** One of the domain's invoices with its lines; another domain's is `not_found`, as an unknown one. */
  async invoice(domainId: string, invoiceId: string): Promise<InvoiceWithLines> {
    const [rows, lines] = await this.store.read(domainId, (db) => [
      invoiceStatement(db, domainId, invoiceId),
      invoiceLinesStatement(db, domainId, invoiceId),
    ]);
    const row = rows[0];
    if (row === undefined) throw notFound();
    return { ...invoiceView(row), lines: lines.map(lineView) };
  }

  /**
   * One of the domain's invoices as a PDF, with the domain's billing details as they are now; another
   * domain's invoice is `not_found`, as an unknown one. Everything it shows is read in one read of the
   * domain's own scope.
   */
  async invoicePdf(domainId: string, invoiceId: string): Promise<Buffer> {
    const [rows, lines, details] = await this.store.read(domainId, (db) => [
      invoiceStatement(db, domainId, invoiceId),
      invoiceLinesStatement(db, domainId, invoiceId),
      billingDetailsStatement(db, domainId),
    ]);
    const row = rows[0];
    if (row === undefined) throw notFound();
    const detail = details[0];
    return renderInvoicePdf(
      this.platformName,
      { ...invoiceView(row), lines: lines.map(lineView) },
      detail === undefined ? null : detailsView(detail),
    );
  }

  /**
   * Moves one of the domain's invoices to `status` (`paid` with the payment's reference, `void`,
   * `uncollectible`); a change its status does not allow is `invoice_status`. Its content never changes.
   */
  async setStatus(
    actor: Actor,
    domainId: string,
    invoiceId: string,
    status: Exclude<InvoiceStatus, 'open'>,
    reference: string | null,
  ): Promise<InvoiceView> {
    return this.store.withDomain(domainId, async (tx) => {
      const changed = await this.changeStatus(tx, actor, domainId, invoiceId, status, reference);
      if (changed === undefined) throw notFound();
      return changed;
    });
  }

  /**
   * `setStatus` in the caller's transaction of the domain; undefined when the domain has no such
   * invoice. A payment that leaves the domain with no unpaid invoice resumes it if it was suspended for
   * non-payment, in the same transaction.
   */
  async changeStatus(
    tx: DomainTx,
    actor: Actor,
    domainId: string,
    invoiceId: string,
    status: Exclude<InvoiceStatus, 'open'>,
    reference: string | null,
  ): Promise<InvoiceView | undefined> {
    const row = await lockInvoice(tx, domainId, invoiceId);
    if (row === undefined) return undefined;
    if (!transitions[row.status].includes(status))
      throw new BulkheadError('invoice_status', `An invoice that is ${row.status} cannot become ${status}.`);
    const changed = await setInvoiceStatus(tx, domainId, invoiceId, { status, reference, at: new Date() });
    await appendAudit(tx, {
      domainId,
      actor: actor.actor,
      requestId: actor.requestId,
      action: 'invoice.status',
      target: invoiceId,
      outcome: 'success',
      detail: { from: row.status, to: status, ...(reference === null ? {} : { reference }) },
    });
    if (status === 'paid' && (await unpaidInvoiceCount(tx, domainId)) === 0)
      await this.onSettled?.(tx, actor, domainId);
    return invoiceView(changed);
  }
}
