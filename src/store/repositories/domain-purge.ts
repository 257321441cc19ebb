// The last step of deleting a domain: its rows. Deleting a domain marks its resources for removal and its
// volumes for zeroing and ends its instances in one transaction (services/domains.ts); the reconcilers
// then empty its backends and destroy its data key. Once nothing of it is left on a backend and its
// final invoice is written, the purge deletes every row it owned, in one system transaction, keeping
// only what `keptTables` names. Both lists together name every table with a domain column: a test holds
// them to the database's catalog, so a new table cannot be forgotten.
import { sql } from 'kysely';
import type { SystemTx } from '../store.js';

/**
 * The tables a purge empties of the domain's rows, in an order the foreign keys accept, each with the
 * columns that name a domain (a grant names two).
 */
export const purgedTables: readonly (readonly [table: string, columns: readonly string[]])[] = [
  ['refresh_tokens', ['domain_id']],
  ['sessions', ['domain_id']],
  ['principals', ['domain_id']],
  ['storage_reservations', ['domain_id']],
  ['backend_names', ['domain_id']],
  ['resources', ['domain_id']],
  ['blueprints', ['domain_id']],
  ['provisioning_keys', ['domain_id']],
  ['volumes', ['domain_id']],
  ['instances', ['domain_id']],
  ['signing_keys', ['domain_id']],
  ['revocations', ['domain_id']],
  ['pools', ['domain_id']],
  ['grants', ['from_domain_id', 'to_domain_id']],
  ['usage_records', ['domain_id']],
  ['price_overrides', ['domain_id']],
  ['stripe_events', ['domain_id']],
  ['stripe_customers', ['domain_id']],
  ['oauth_codes', ['domain_id']],
  ['oauth_assertions', ['domain_id']],
  ['oauth_clients', ['domain_id']],
  ['portal_hosts', ['domain_id']],
  ['portal_branding', ['domain_id']],
  ['idempotent_requests', ['domain_id']],
];

/**
 * The tables whose rows of a deleted domain stay: the audit trail, the invoices kept for the operator
 * with their lines, payments and the billing details they print, and the record that the data key was
 * destroyed (it holds no key, and keeps one from ever being made for the domain again).
 */
export const keptTables: readonly string[] = [
  'audit_events',
  'audit_heads',
  'invoices',
  'invoice_lines',
  'invoice_payments',
  'billing_details',
  'domain_keys',
];

/**
 * Deleted domains not yet purged that have nothing left anywhere: no resource but deleted ones, no
 * volume but deleted ones, their data key destroyed, no Stripe customer still to delete, and an invoice
 * for the month they were deleted in (the close reads their resources and usage). At most `limit`.
 */
export async function domainsToPurge(tx: SystemTx, limit: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT d.id FROM domains d
    WHERE d.status = 'deleted' AND d.purged_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.domain_id = d.id AND r.status <> 'deleted')
      AND NOT EXISTS (SELECT 1 FROM volumes v WHERE v.domain_id = d.id AND v.status <> 'deleted')
      AND EXISTS (SELECT 1 FROM domain_keys k WHERE k.domain_id = d.id AND k.wrapped_key IS NULL)
      AND NOT EXISTS (SELECT 1 FROM stripe_customers c WHERE c.domain_id = d.id AND c.deleted_at IS NULL)
      AND EXISTS (
        SELECT 1 FROM invoices i
        WHERE i.domain_id = d.id AND i.period = to_char(d.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM'))
    ORDER BY d.deleted_at, d.id
    LIMIT ${limit}`.execute(tx);
  return rows.map((r) => r.id);
}

/**
 * Deletes every row of the domain in `purgedTables` and records it purged at `at`, with the domain's row
 * locked; answers the rows deleted per table, or undefined when the domain is not (or no longer) one to
 * purge. Repeating it changes nothing.
 */
export async function purgeDomainRows(
  tx: SystemTx,
  domainId: string,
  at: Date,
): Promise<Record<string, number> | undefined> {
  const { rows } = await sql<{ id: string }>`
    SELECT id FROM domains WHERE id = ${domainId} AND status = 'deleted' AND purged_at IS NULL
    FOR UPDATE`.execute(tx);
  if (rows.length === 0) return undefined;
  const deleted: Record<string, number> = {};
  for (const [table, columns] of purgedTables) {
    const where = sql.join(
      columns.map((c) => sql`${sql.ref(c)} = ${domainId}`),
      sql` OR `,
    );
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE ${where}`.execute(tx);
    const n = Number(result.numAffectedRows ?? 0n);
    if (n > 0) deleted[table] = n;
  }
  await sql`UPDATE domains SET purged_at = ${at} WHERE id = ${domainId}`.execute(tx);
  return deleted;
}
