// The content hash of a closed invoice: SHA-256 over one fixed serialisation of everything the invoice
// says (its number, period, currency, amounts, closing time and lines), never its status. It is written
// with the invoice and into the audit chain (`invoice.close`); `bulkhead audit verify` recomputes it from
// the stored invoice, so a change made after closing, even by hand in the database, is found.
import { createHash } from 'node:crypto';
import type { NewInvoice } from '../store/repositories/billing.js';
import type { InvoiceLineRow, InvoiceRow } from '../store/schema.js';

/** What an invoice says, as the hash covers it (all it is written with but the hash); integers as bigint. */
export type InvoiceContent = Omit<NewInvoice, 'contentHash'>;

/** The hex SHA-256 of the invoice's content: a JSON array of its fields in a fixed order, integers as text. */
export function invoiceHash(invoice: InvoiceContent): string {
  const body = JSON.stringify([
    'bulkhead.invoice.v1',
    invoice.id,
    invoice.domainId,
    invoice.number,
    invoice.period,
    invoice.currency,
    invoice.subtotal.toString(),
    invoice.total.toString(),
    invoice.closedAt.toISOString(),
    invoice.lines.map((l) => [
      l.position,
      l.meter,
      l.unit,
      l.quantity.toString(),
      l.included.toString(),
      l.billable.toString(),
      l.unitPrice.toString(),
      l.per.toString(),
      l.amount.toString(),
    ]),
  ]);
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

/** What a stored invoice says, as its content hash covers it. */
export function storedInvoiceContent(row: InvoiceRow, lines: readonly InvoiceLineRow[]): InvoiceContent {
  return {
    id: row.id,
    domainId: row.domain_id,
    number: row.number,
    period: row.period,
    currency: row.currency,
    subtotal: BigInt(row.subtotal),
    total: BigInt(row.total),
    closedAt: row.closed_at,
    lines: lines.map((l) => ({
      position: l.position,
      meter: l.meter,
      unit: l.unit,
      quantity: BigInt(l.quantity),
      included: BigInt(l.included),
      billable: BigInt(l.billable),
      unitPrice: BigInt(l.unit_price),
      per: BigInt(l.per),
      amount: BigInt(l.amount),
    })),
  };
}
