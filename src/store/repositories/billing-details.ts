// A domain's billing details (the name and address its invoices are made out to): one row per domain,
// read and written in the domain's own transaction only.
import { sql } from 'kysely';
import type { BillingDetailsRow } from '../schema.js';
import type { DomainQueries, DomainTx } from '../store.js';

/** Billing details to store. */
export interface NewBillingDetails {
  readonly domainId: string;
  readonly name: string;
  readonly addressLines: readonly string[];
  readonly city: string;
  readonly postalCode: string;
  readonly country: string;
  readonly email: string;
  readonly taxId: string | null;
  readonly updatedAt: Date;
}

/** The statement (for `Store.read`) that reads the domain's billing details. */
export function billingDetailsStatement(db: DomainQueries, domainId: string) {
  return db.selectFrom('billing_details').selectAll().where('domain_id', '=', domainId);
}

/**
 * The statement (for `Store.change`) that sets the domain's billing details, inserting or replacing them
 * as one row, only while the domain exists and is not deleted; it answers the row it wrote.
 */
export function saveBillingDetailsStatement(db: DomainTx, details: NewBillingDetails) {
  const row = {
    domain_id: details.domainId,
    name: details.name,
    address_lines: JSON.stringify(details.addressLines),
    city: details.city,
    postal_code: details.postalCode,
    country: details.country,
    email: details.email,
    tax_id: details.taxId,
    updated_at: details.updatedAt,
  };
  return db
    .insertInto('billing_details')
    .columns(Object.keys(row) as (keyof typeof row)[])
    .expression((eb) =>
      eb
        .selectFrom('domains')
        .select([
          sql.lit(row.domain_id).as('domain_id'),
          sql<string>`${row.name}::text`.as('name'),
          sql<string>`${row.address_lines}::jsonb`.as('address_lines'),
          sql<string>`${row.city}::text`.as('city'),
          sql<string>`${row.postal_code}::text`.as('postal_code'),
          sql<string>`${row.country}::text`.as('country'),
          sql<string>`${row.email}::text`.as('email'),
          sql<string | null>`${row.tax_id}::text`.as('tax_id'),
          sql<Date>`${row.updated_at}::timestamptz`.as('updated_at'),
        ])
        .where('id', '=', details.domainId)
        .where('status', '!=', 'deleted'),
    )
    .onConflict((oc) =>
      oc.column('domain_id').doUpdateSet((eb) => ({
        name: eb.ref('excluded.name'),
        address_lines: eb.ref('excluded.address_lines'),
        city: eb.ref('excluded.city'),
        postal_code: eb.ref('excluded.postal_code'),
        country: eb.ref('excluded.country'),
        email: eb.ref('excluded.email'),
        tax_id: eb.ref('excluded.tax_id'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .returningAll();
}

/** A condition that holds when this transaction wrote the domain's billing details. */
export function detailsWrittenInThisTransaction(domainId: string) {
  return sql`EXISTS (SELECT 1 FROM billing_details
    WHERE domain_id = ${domainId} AND xmin = pg_current_xact_id()::xid)`;
}

/** The row as the service reads it (`address_lines` parsed by the driver). */
export type { BillingDetailsRow };
