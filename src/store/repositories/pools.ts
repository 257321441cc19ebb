// A domain's pool row: the quotas and limits the operator set for it, without defaults (those are in
// src/provisioner/quotas.ts and src/services/tenant-limits.ts). Reached only inside a transaction
// scoped to the domain, so row-level security holds these statements to that domain's row as well.
import type { DomainTx } from '../store.js';

/** The values the operator set, by name (a quota or a limit); a name not present takes its default. */
export type PoolSettings = Readonly<Record<string, number>>;

/**
 * The domain's pool settings, its row locked until the transaction ends so that a change computed from
 * them is not lost to a concurrent one; empty when the domain has no pool row.
 */
export async function lockPoolSettings(tx: DomainTx, domainId: string): Promise<PoolSettings> {
  const row = await tx
    .selectFrom('pools')
    .select('quotas')
    .where('domain_id', '=', domainId)
    .forUpdate()
    .executeTakeFirst();
  return row?.quotas ?? {};
}

/** Replaces the domain's pool settings, creating its row when it has none. */
export async function savePoolSettings(
  tx: DomainTx,
  domainId: string,
  settings: PoolSettings,
): Promise<void> {
  const quotas = JSON.stringify(settings);
  await tx
    .insertInto('pools')
    .values({ domain_id: domainId, quotas, updated_at: new Date() })
    .onConflict((oc) => oc.column('domain_id').doUpdateSet({ quotas, updated_at: new Date() }))
    .execute();
}
