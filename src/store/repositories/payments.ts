// Payments' statements: each domain's Stripe customer (one per domain, never another's), the payment
// attempts made for its invoices, and the Stripe events handled for it (once each). A domain's rows are
// read and written in its own transaction; only two reads cross domains, in the system context: which
// domain a Stripe customer belongs to (a webhook names the customer, not the domain), and the customers
// of deleted domains still to be deleted at Stripe (the reconciler).
import { sql } from 'kysely';
import type { InvoicePaymentRow, PaymentStatus, StripeCustomerRow } from '../schema.js';
import type { DomainTx, SystemTx } from '../store.js';

/** Orders the making of a domain's Stripe customer: one at a time per domain, until the transaction ends. */
export async function lockStripeCustomer(tx: DomainTx, domainId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`bulkhead.stripe_customer:${domainId}`}, 0))`.execute(
    tx,
  );
}

/** The domain's Stripe customer; undefined when it has none yet. */
export function stripeCustomer(tx: DomainTx, domainId: string): Promise<StripeCustomerRow | undefined> {
  return tx.selectFrom('stripe_customers').selectAll().where('domain_id', '=', domainId).executeTakeFirst();
}

/** Records the domain's Stripe customer; false when the domain had one already (a second server). */
export async function insertStripeCustomer(
  tx: DomainTx,
  row: { readonly domainId: string; readonly customerId: string; readonly at: Date },
): Promise<boolean> {
  const inserted = await tx
    .insertInto('stripe_customers')
    .values({ domain_id: row.domainId, customer_id: row.customerId, created_at: row.at, deleted_at: null })
    .onConflict((oc) => oc.column('domain_id').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Marks the domain's customer deleted at Stripe. */
export async function markStripeCustomerDeleted(tx: DomainTx, domainId: string, at: Date): Promise<void> {
  await tx
    .updateTable('stripe_customers')
    .set({ deleted_at: at })
    .where('domain_id', '=', domainId)
    .where('deleted_at', 'is', null)
    .execute();
}

/** Which domain a Stripe customer belongs to (system context: a webhook names only the customer). */
export async function domainOfStripeCustomer(tx: SystemTx, customerId: string): Promise<string | undefined> {
  const row = await tx
    .selectFrom('stripe_customers')
    .select('domain_id')
    .where('customer_id', '=', customerId)
    .executeTakeFirst();
  return row?.domain_id;
}

/** Customers of deleted domains that Stripe has not yet confirmed deleted, at most `limit`. */
export async function customersOfDeletedDomains(
  tx: SystemTx,
  limit: number,
): Promise<{ domainId: string; customerId: string }[]> {
  const rows = await tx
    .selectFrom('stripe_customers')
    .innerJoin('domains', 'domains.id', 'stripe_customers.domain_id')
    .select(['stripe_customers.domain_id as domainId', 'stripe_customers.customer_id as customerId'])
    .where('domains.status', '=', 'deleted')
    .where('stripe_customers.deleted_at', 'is', null)
    .orderBy('stripe_customers.domain_id')
    .limit(limit)
    .execute();
  return rows;
}

/** The payment attempts of one of the domain's invoices, oldest first. */
export function invoicePayments(
  tx: DomainTx,
  domainId: string,
  invoiceId: string,
): Promise<InvoicePaymentRow[]> {
  return tx
    .selectFrom('invoice_payments')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('invoice_id', '=', invoiceId)
    .orderBy('attempt')
    .execute();
}

/** Records a payment attempt before Stripe is asked (its idempotency key is what a retry sends again). */
export async function insertInvoicePayment(
  tx: DomainTx,
  row: {
    readonly domainId: string;
    readonly invoiceId: string;
    readonly attempt: number;
    readonly idempotencyKey: string;
    readonly at: Date;
  },
): Promise<void> {
  await tx
    .insertInto('invoice_payments')
    .values({
      invoice_id: row.invoiceId,
      attempt: row.attempt,
      domain_id: row.domainId,
      idempotency_key: row.idempotencyKey,
      payment_intent_id: null,
      status: 'pending',
      failure_code: null,
      created_at: row.at,
      updated_at: row.at,
    })
    .execute();
}

/** Sets an attempt's PaymentIntent and status. */
export async function updateInvoicePayment(
  tx: DomainTx,
  domainId: string,
  invoiceId: string,
  attempt: number,
  change: {
    readonly paymentIntentId?: string;
    readonly status: PaymentStatus;
    readonly failureCode: string | null;
    readonly at: Date;
  },
): Promise<void> {
  await tx
    .updateTable('invoice_payments')
    .set({
      ...(change.paymentIntentId === undefined ? {} : { payment_intent_id: change.paymentIntentId }),
      status: change.status,
      failure_code: change.failureCode,
      updated_at: change.at,
    })
    .where('domain_id', '=', domainId)
    .where('invoice_id', '=', invoiceId)
    .where('attempt', '=', attempt)
    .execute();
}

/** The domain's payment attempt with this PaymentIntent; undefined when none of its invoices has it. */
export function paymentByIntent(
  tx: DomainTx,
  domainId: string,
  paymentIntentId: string,
): Promise<InvoicePaymentRow | undefined> {
  return tx
    .selectFrom('invoice_payments')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('payment_intent_id', '=', paymentIntentId)
    .executeTakeFirst();
}

/**
 * Records a Stripe event as handled for the domain; false when it was handled before (by this domain or
 * any other: the event id is unique across all of them).
 */
export async function insertStripeEvent(
  tx: DomainTx,
  row: { readonly eventId: string; readonly domainId: string; readonly type: string; readonly at: Date },
): Promise<boolean> {
  const inserted = await tx
    .insertInto('stripe_events')
    .values({ event_id: row.eventId, domain_id: row.domainId, type: row.type, received_at: row.at })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** How many of the domain's invoices are still to be paid (`open` or `uncollectible`). */
export async function unpaidInvoiceCount(tx: DomainTx, domainId: string): Promise<number> {
  const row = await tx
    .selectFrom('invoices')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('domain_id', '=', domainId)
    .where('status', 'in', ['open', 'uncollectible'])
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
