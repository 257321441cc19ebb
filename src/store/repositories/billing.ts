// Billing's statements: a domain's usage records (appended, never changed), the price book (no domain's:
// the system context's alone) with each domain's own overrides, and a domain's invoices and their lines.
// A domain's usage and invoices are read and written in its own transaction; closing a period takes the
// domain's billing locks first (`lockBillingPeriod`), so usage of a period being closed waits for the
// close and is then refused, and the close sees every record that committed before it.
import { type SelectQueryBuilder, sql } from 'kysely';
import type {
  BillingMeterRow,
  Database,
  InvoiceLineRow,
  InvoiceRow,
  InvoiceStatus,
  PriceOverrideRow,
  UsageRecordRow,
  UsageSource,
} from '../schema.js';
import type { DomainQueries, DomainTx, SystemQueries, SystemTx, Tx } from '../store.js';

/** A usage record to append. */
export interface NewUsage {
  readonly domainId: string;
  readonly eventId: string;
  readonly meter: string;
  readonly quantity: bigint;
  readonly at: Date;
  readonly recordedAt: Date;
}

/**
 * Takes the lock that orders a domain's usage of `period` against closing it: shared for recording (any
 * number at once), exclusive for closing. Held until the transaction ends.
 */
export async function lockBillingPeriod(
  tx: DomainTx,
  domainId: string,
  period: string,
  mode: 'record' | 'close',
): Promise<void> {
  const key = `bulkhead.billing:${domainId}:${period}`;
  if (mode === 'record')
    await sql`SELECT pg_advisory_xact_lock_shared(hashtextextended(${key}, 0))`.execute(tx);
  else await sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(tx);
}

/** Takes the lock that numbers a domain's invoices one close at a time. Held until the transaction ends. */
export async function lockInvoiceNumbering(tx: DomainTx, domainId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`bulkhead.invoices:${domainId}`}, 0))`.execute(
    tx,
  );
}

/**
 * The bare append of a usage record (for `Store.change`): inserted unless the domain has one with its
 * event id, with no check of the meter or the period. The baseline `bench/billing.ts` measures recording
 * against; it answers a row when it appended.
 */
export function insertUsageStatement(db: DomainTx, usage: NewUsage) {
  return db
    .insertInto('usage_records')
    .values({
      domain_id: usage.domainId,
      event_id: usage.eventId,
      meter: usage.meter,
      quantity: usage.quantity.toString(),
      at: usage.at,
      recorded_at: usage.recordedAt,
      source: 'api',
    })
    .onConflict((oc) => oc.columns(['domain_id', 'event_id']).doNothing())
    .returning(sql<boolean>`true`.as('inserted'));
}

/** What recording usage came to (`recordOutcome`): whether it inserted, and why not. */
export interface RecordOutcome {
  /** The record as stored (this one, or the one that had the event id before); undefined when none. */
  readonly stored: { readonly meter: string; readonly quantity: bigint; readonly at: Date } | undefined;
  /** True when this message inserted it. */
  readonly inserted: boolean;
  readonly meterKnown: boolean;
  readonly periodClosed: boolean;
}

/**
 * The statement (for `Store.change`) that records usage through `record_usage` (migration 0031): the
 * period's lock (shared, as `lockBillingPeriod`), then, each seeing what committed before it, the checks
 * of the meter (in the price book, unless `anyMeter`) and of the period (no invoice of the domain for it),
 * the insert when both allow it (nothing on a repeated event id), and, when it inserted nothing, the record
 * that holds the event id. `recordOutcome` reads its row.
 */
export function recordUsageStatement(
  db: DomainTx,
  usage: NewUsage & { readonly period: string; readonly source: UsageSource; readonly anyMeter: boolean },
) {
  return db
    .selectFrom(
      sql<RecordedRow>`record_usage(${usage.domainId}, ${usage.eventId}, ${usage.meter},
        ${usage.quantity.toString()}::bigint, ${usage.at}::timestamptz, ${usage.recordedAt}::timestamptz,
        ${usage.source}, ${usage.period}, ${usage.anyMeter})`.as('recorded'),
    )
    .selectAll();
}

interface RecordedRow {
  inserted: boolean;
  meter_known: boolean;
  period_closed: boolean;
  stored_meter: string | null;
  stored_quantity: string | null;
  stored_at: Date | string | null;
}

/** What the statement of `recordUsageStatement` answered. */
export function recordOutcome([row]: readonly RecordedRow[]): RecordOutcome {
  return {
    inserted: row!.inserted,
    meterKnown: row!.meter_known,
    periodClosed: row!.period_closed,
    stored:
      row!.stored_meter === null || row!.stored_quantity === null || row!.stored_at === null
        ? undefined
        : { meter: row!.stored_meter, quantity: BigInt(row!.stored_quantity), at: new Date(row!.stored_at) },
  };
}

/** The domain's usage record with this event id; undefined when there is none. */
export function usageByEventId(
  tx: DomainTx,
  domainId: string,
  eventId: string,
): Promise<UsageRecordRow | undefined> {
  return tx
    .selectFrom('usage_records')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
}

/**
 * Appends, once per resource and period, the seconds each of the domain's resources was ready within
 * [start, end): from `ready_at` to `deleted_at` (or the end), to the whole second, as usage of the meter
 * `resource.<kind>` at the period's start. Its event id (`resource:<id>:<period>`) makes a second close
 * add nothing.
 */
export async function insertResourceUsage(
  tx: DomainTx,
  domainId: string,
  period: string,
  start: Date,
  end: Date,
  recordedAt: Date,
): Promise<void> {
  await sql`
    INSERT INTO usage_records (domain_id, event_id, meter, quantity, at, recorded_at, source)
    SELECT domain_id, 'resource:' || id || ':' || ${period}::text, 'resource.' || kind, seconds,
           ${start}::timestamptz, ${recordedAt}::timestamptz, 'resources'
    FROM (
      SELECT domain_id, id, kind,
             floor(extract(epoch FROM least(coalesce(deleted_at, ${end}::timestamptz), ${end}::timestamptz)
                                    - greatest(ready_at, ${start}::timestamptz)))::bigint AS seconds
      FROM resources
      WHERE domain_id = ${domainId} AND ready_at IS NOT NULL AND ready_at < ${end}::timestamptz
        AND (deleted_at IS NULL OR deleted_at > ${start}::timestamptz)
    ) ready
    WHERE seconds > 0
    ON CONFLICT (domain_id, event_id) DO NOTHING`.execute(tx);
}

/** The domain's total quantity per meter over [start, end), as decimal strings (sums may pass 2^53). */
export async function usageTotals(
  tx: DomainTx,
  domainId: string,
  start: Date,
  end: Date,
): Promise<{ meter: string; quantity: string }[]> {
  const { rows } = await sql<{ meter: string; quantity: string }>`
    SELECT meter, sum(quantity)::text AS quantity FROM usage_records
    WHERE domain_id = ${domainId} AND at >= ${start}::timestamptz AND at < ${end}::timestamptz
    GROUP BY meter ORDER BY meter`.execute(tx);
  return rows;
}

/**
 * The statement (for `Store.read`) that sums the domain's usage per meter and UTC day over [from, to),
 * optionally of one meter; at most `limit` buckets, by day then meter.
 */
export function usageByDayStatement(
  db: DomainQueries,
  domainId: string,
  filter: {
    readonly from: Date;
    readonly to: Date;
    readonly meter?: string | undefined;
    readonly limit: number;
  },
) {
  const day = sql<string>`to_char(date_trunc('day', at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`;
  let q = db
    .selectFrom('usage_records')
    .select([day.as('day'), 'meter', sql<string>`sum(quantity)::text`.as('quantity')])
    .where('domain_id', '=', domainId)
    .where('at', '>=', filter.from)
    .where('at', '<', filter.to);
  if (filter.meter !== undefined) q = q.where('meter', '=', filter.meter);
  return q.groupBy([day, 'meter']).orderBy(day).orderBy('meter').limit(filter.limit);
}

/** The price book's meters, by name. */
export function billingMeters(tx: SystemTx): Promise<BillingMeterRow[]> {
  return tx.selectFrom('billing_meters').selectAll().orderBy('meter').execute();
}

/** Whether the price book defines `meter`. */
export async function meterExists(tx: Tx, meter: string): Promise<boolean> {
  const row = await tx
    .selectFrom('billing_meters')
    .select('meter')
    .where('meter', '=', meter)
    .executeTakeFirst();
  return row !== undefined;
}

/** Every domain's overrides, by meter then domain. */
export function priceOverrides(tx: SystemTx): Promise<PriceOverrideRow[]> {
  return tx.selectFrom('price_overrides').selectAll().orderBy('meter').orderBy('domain_id').execute();
}

/** The domain's own overrides. */
export function domainPriceOverrides(tx: DomainTx, domainId: string): Promise<PriceOverrideRow[]> {
  return tx.selectFrom('price_overrides').selectAll().where('domain_id', '=', domainId).execute();
}

/** A meter of the book as stored. */
export interface MeterPrice {
  readonly meter: string;
  readonly unit: string;
  readonly unitPrice: bigint;
  readonly per: bigint;
  readonly included: bigint;
}

/**
 * Replaces the whole price book: meters not named are removed (with their overrides), the others set,
 * and the overrides become exactly those given. The caller holds the book's lock (`lockPriceBook`).
 */
export async function replacePriceBook(
  tx: SystemTx,
  meters: readonly MeterPrice[],
  overrides: readonly (Omit<MeterPrice, 'unit'> & { readonly domainId: string })[],
  at: Date,
): Promise<void> {
  const names = meters.map((m) => m.meter);
  await tx.deleteFrom('price_overrides').execute();
  let removal = tx.deleteFrom('billing_meters');
  if (names.length > 0) removal = removal.where('meter', 'not in', names);
  await removal.execute();
  for (const m of meters) {
    const values = {
      unit: m.unit,
      unit_price: m.unitPrice.toString(),
      per: m.per.toString(),
      included: m.included.toString(),
      updated_at: at,
    };
    await tx
      .insertInto('billing_meters')
      .values({ meter: m.meter, ...values })
      .onConflict((oc) => oc.column('meter').doUpdateSet(values))
      .execute();
  }
  if (overrides.length > 0) {
    await tx
      .insertInto('price_overrides')
      .values(
        overrides.map((o) => ({
          domain_id: o.domainId,
          meter: o.meter,
          unit_price: o.unitPrice.toString(),
          per: o.per.toString(),
          included: o.included.toString(),
        })),
      )
      .execute();
  }
}

/** Serialises changes of the price book. */
export async function lockPriceBook(tx: SystemTx): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended('bulkhead.price_book', 0))`.execute(tx);
}

/** Which of `domainIds` exist and are not deleted. */
export async function liveDomainIds(tx: SystemTx, domainIds: readonly string[]): Promise<string[]> {
  if (domainIds.length === 0) return [];
  const rows = await tx
    .selectFrom('domains')
    .select('id')
    .where('id', 'in', domainIds)
    .where('status', '<>', 'deleted')
    .execute();
  return rows.map((r) => r.id);
}

/** One page of a scan of domains by id: the ids `q` finds after `after` (all when null), at most `limit`. */
async function pageOfIds(
  q: SelectQueryBuilder<Database, 'domains', { id: string }>,
  after: string | null,
  limit: number,
): Promise<string[]> {
  const rows = await (after === null ? q : q.where('id', '>', after)).orderBy('id').limit(limit).execute();
  return rows.map((r) => r.id);
}

/**
 * Domains to bill for [start, end), by id after `after`, at most `limit`: those that existed during the
 * period (created before its end, not deleted before its start), and any with usage recorded in it.
 */
export function domainsToBill(
  tx: SystemTx,
  start: Date,
  end: Date,
  after: string | null,
  limit: number,
): Promise<string[]> {
  const q = tx
    .selectFrom('domains')
    .select('id')
    .where((eb) =>
      eb.or([
        eb.and([
          eb('created_at', '<', end),
          eb.or([eb('deleted_at', 'is', null), eb('deleted_at', '>=', start)]),
        ]),
        eb.exists(
          eb
            .selectFrom('usage_records')
            .select('event_id')
            .whereRef('usage_records.domain_id', '=', 'domains.id')
            .where('usage_records.at', '>=', start)
            .where('usage_records.at', '<', end),
        ),
      ]),
    );
  return pageOfIds(q, after, limit);
}

/** The domain's invoice for `period`; undefined when it has none. */
export function invoiceForPeriod(
  tx: DomainTx,
  domainId: string,
  period: string,
): Promise<InvoiceRow | undefined> {
  return tx
    .selectFrom('invoices')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('period', '=', period)
    .executeTakeFirst();
}

/** The number the domain's next invoice takes (1 for its first). */
export async function nextInvoiceNumber(tx: DomainTx, domainId: string): Promise<number> {
  const row = await tx
    .selectFrom('invoices')
    .select((eb) => eb.fn.max('number').as('n'))
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
  return Number(row?.n ?? 0) + 1;
}

/** An invoice to write, with its lines, its amounts as integers of minor units. */
export interface NewInvoice {
  readonly id: string;
  readonly domainId: string;
  readonly number: number;
  readonly period: string;
  readonly currency: string;
  readonly subtotal: bigint;
  readonly total: bigint;
  readonly contentHash: string;
  readonly closedAt: Date;
  readonly lines: readonly {
    readonly position: number;
    readonly meter: string;
    readonly unit: string;
    readonly quantity: bigint;
    readonly included: bigint;
    readonly billable: bigint;
    readonly unitPrice: bigint;
    readonly per: bigint;
    readonly amount: bigint;
  }[];
}

/** Writes an open invoice and its lines. */
export async function insertInvoice(tx: DomainTx, invoice: NewInvoice): Promise<void> {
  await tx
    .insertInto('invoices')
    .values({
      id: invoice.id,
      domain_id: invoice.domainId,
      number: invoice.number,
      period: invoice.period,
      currency: invoice.currency,
      subtotal: invoice.subtotal.toString(),
      total: invoice.total.toString(),
      content_hash: invoice.contentHash,
      closed_at: invoice.closedAt,
      status: 'open',
      status_changed_at: null,
      payment_reference: null,
    })
    .execute();
  if (invoice.lines.length === 0) return;
  await tx
    .insertInto('invoice_lines')
    .values(
      invoice.lines.map((l) => ({
        invoice_id: invoice.id,
        domain_id: invoice.domainId,
        position: l.position,
        meter: l.meter,
        unit: l.unit,
        quantity: l.quantity.toString(),
        included: l.included.toString(),
        billable: l.billable.toString(),
        unit_price: l.unitPrice.toString(),
        per: l.per.toString(),
        amount: l.amount.toString(),
      })),
    )
    .execute();
}

/** The statement (for `Store.read`) that lists the domain's invoices, newest period first, after `before`. */
export function invoicesStatement(
  db: DomainQueries,
  domainId: string,
  filter: { readonly limit: number; readonly beforeNumber?: number | undefined },
) {
  let q = db.selectFrom('invoices').selectAll().where('domain_id', '=', domainId);
  if (filter.beforeNumber !== undefined) q = q.where('number', '<', filter.beforeNumber);
  return q.orderBy('number', 'desc').limit(filter.limit);
}

/** The statement (for `Store.read`, or to run in a transaction) that finds one of the domain's invoices by id. */
export function invoiceStatement(db: DomainQueries | DomainTx, domainId: string, invoiceId: string) {
  return db.selectFrom('invoices').selectAll().where('domain_id', '=', domainId).where('id', '=', invoiceId);
}

/** The statement (for `Store.read`) that reads an invoice's lines in order. */
export function invoiceLinesStatement(db: DomainQueries, domainId: string, invoiceId: string) {
  return db
    .selectFrom('invoice_lines')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('invoice_id', '=', invoiceId)
    .orderBy('position');
}

/** One of the domain's invoices, locked until the transaction ends; undefined when there is none. */
export function lockInvoice(
  tx: DomainTx,
  domainId: string,
  invoiceId: string,
): Promise<InvoiceRow | undefined> {
  return invoiceStatement(tx, domainId, invoiceId).forUpdate().executeTakeFirst();
}

/** Moves an invoice to `status` (its content stays as it was closed) and answers the row. */
export function setInvoiceStatus(
  tx: DomainTx,
  domainId: string,
  invoiceId: string,
  change: { readonly status: InvoiceStatus; readonly reference: string | null; readonly at: Date },
): Promise<InvoiceRow> {
  return tx
    .updateTable('invoices')
    .set({ status: change.status, status_changed_at: change.at, payment_reference: change.reference })
    .where('domain_id', '=', domainId)
    .where('id', '=', invoiceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Deleted domains whose invoices are due for purging: deleted before `deletedBefore` and still holding an
 * invoice; at most `limit`, by id after `after` (the reconciler's scan).
 */
export function domainsWithExpiredInvoices(
  tx: SystemTx,
  deletedBefore: Date,
  after: string | null,
  limit: number,
): Promise<string[]> {
  const q = tx
    .selectFrom('domains')
    .select('id')
    .where('status', '=', 'deleted')
    .where('deleted_at', '<', deletedBefore)
    .where((eb) =>
      eb.exists(
        eb.selectFrom('invoices').select('invoices.id').whereRef('invoices.domain_id', '=', 'domains.id'),
      ),
    );
  return pageOfIds(q, after, limit);
}

/** The domain's invoices, oldest first, for purging them (their ids, numbers, periods and hashes). */
export function invoicesToPurge(
  tx: DomainTx,
  domainId: string,
): Promise<Pick<InvoiceRow, 'id' | 'number' | 'period' | 'content_hash'>[]> {
  return tx
    .selectFrom('invoices')
    .select(['id', 'number', 'period', 'content_hash'])
    .where('domain_id', '=', domainId)
    .orderBy('number')
    .execute();
}

/**
 * Deletes every invoice of the domain with its lines and payment attempts; answers how many invoices. The
 * database allows it only for a deleted domain (migration 0025): for a live one nothing is deleted.
 */
export async function deleteDomainInvoices(tx: DomainTx, domainId: string): Promise<number> {
  await tx.deleteFrom('invoice_payments').where('domain_id', '=', domainId).execute();
  await tx.deleteFrom('invoice_lines').where('domain_id', '=', domainId).execute();
  const deleted = await tx.deleteFrom('invoices').where('domain_id', '=', domainId).executeTakeFirst();
  return Number(deleted.numDeletedRows);
}

/**
 * The invoices the transaction sees (in the system context, every domain's) by id after `after`, at most
 * `limit`, with their lines: for `audit verify`.
 */
export async function invoicesWithLines(
  tx: Tx,
  after: string | null,
  limit: number,
): Promise<{ invoice: InvoiceRow; lines: InvoiceLineRow[] }[]> {
  let q = tx.selectFrom('invoices').selectAll();
  if (after !== null) q = q.where('id', '>', after);
  const invoices = await q.orderBy('id').limit(limit).execute();
  if (invoices.length === 0) return [];
  const lines = await tx
    .selectFrom('invoice_lines')
    .selectAll()
    .where(
      'invoice_id',
      'in',
      invoices.map((i) => i.id),
    )
    .orderBy('invoice_id')
    .orderBy('position')
    .execute();
  const byInvoice = new Map<string, InvoiceLineRow[]>();
  for (const line of lines) {
    const list = byInvoice.get(line.invoice_id) ?? [];
    list.push(line);
    byInvoice.set(line.invoice_id, list);
  }
  return invoices.map((invoice) => ({ invoice, lines: byInvoice.get(invoice.id) ?? [] }));
}

/**
 * The statement (for `Store.systemRead`) that sums each domain's volumes that hold bytes (not deleted),
 * by their size, as decimal strings.
 */
export function volumeBytesStatement(db: SystemQueries) {
  return db
    .selectFrom('volumes')
    .select(['domain_id', sql<string>`sum(size_bytes)::text`.as('bytes')])
    .where('status', '!=', 'deleted')
    .groupBy('domain_id');
}

/** The statement (for `Store.systemRead`) that lists every ready storage area, by domain. */
export function storageAreasStatement(db: SystemQueries) {
  return db
    .selectFrom('resources')
    .select(['domain_id', 'id'])
    .where('kind', '=', 'storage')
    .where('status', '=', 'ready')
    .orderBy('domain_id');
}
