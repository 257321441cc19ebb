// A domain's pool: the quota overrides an operator set. The storage quota's reservations live here too:
// each in-flight object write holds the bytes it may add until its usage is measured. The room a write
// may take is read with the domain's row locked (`lockDomain`), so two writes never share one gap.
import type { DomainTx, SystemTx } from '../store.js';

/** Makes a new domain's pool, with no overrides. */
export async function insertEmptyPool(tx: SystemTx, domainId: string, at: Date): Promise<void> {
  await tx.insertInto('pools').values({ domain_id: domainId, quotas: '{}', updated_at: at }).execute();
}

/** The domain's pool settings as the operator set them, without defaults. */
export async function poolQuotas(tx: DomainTx, domainId: string): Promise<Readonly<Record<string, number>>> {
  const pool = await tx
    .selectFrom('pools')
    .select('quotas')
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
  return pool?.quotas ?? {};
}

/** The pool's overrides, its row locked for the rest of the transaction (none yet: an empty set). */
export async function lockPoolQuotas(
  tx: DomainTx,
  domainId: string,
): Promise<Readonly<Record<string, number>>> {
  const pool = await tx
    .selectFrom('pools')
    .select('quotas')
    .where('domain_id', '=', domainId)
    .forUpdate()
    .executeTakeFirst();
  return pool?.quotas ?? {};
}

/** Replaces the pool's overrides, making the pool when the domain has none yet. */
export async function savePoolQuotas(
  tx: DomainTx,
  domainId: string,
  quotas: Readonly<Record<string, number>>,
): Promise<void> {
  const now = new Date();
  await tx
    .insertInto('pools')
    .values({ domain_id: domainId, quotas: JSON.stringify(quotas), updated_at: now })
    .onConflict((oc) =>
      oc.column('domain_id').doUpdateSet({ quotas: JSON.stringify(quotas), updated_at: now }),
    )
    .execute();
}

/** The pool's overrides and the bytes stored or reserved against the storage quota. */
export async function storageRoom(
  tx: DomainTx,
  domainId: string,
): Promise<{ quotas: Readonly<Record<string, number>>; committed: number }> {
  const row = await tx
    .selectFrom('domains')
    .select((eb) => [
      eb.selectFrom('pools').select('quotas').where('domain_id', '=', domainId).as('quotas'),
      eb
        .selectFrom('resources')
        .select((c) => c.fn.coalesce(c.fn.sum<string>('used_bytes'), c.lit(0)).as('n'))
        .where('domain_id', '=', domainId)
        .where('status', '<>', 'deleted')
        .as('used'),
      eb
        .selectFrom('storage_reservations')
        .select((c) => c.fn.coalesce(c.fn.sum<string>('bytes'), c.lit(0)).as('n'))
        .where('domain_id', '=', domainId)
        .as('reserved'),
    ])
    .where('id', '=', domainId)
    .executeTakeFirstOrThrow();
  return { quotas: row.quotas ?? {}, committed: Number(row.used ?? 0) + Number(row.reserved ?? 0) };
}

/** Records a reservation of `bytes` for a write to a resource, alive until `leaseUntil`. */
export async function insertStorageReservation(
  tx: DomainTx,
  r: { id: string; domainId: string; resourceId: string; bytes: number; at: Date; leaseUntil: Date },
): Promise<void> {
  await tx
    .insertInto('storage_reservations')
    .values({
      id: r.id,
      domain_id: r.domainId,
      resource_id: r.resourceId,
      bytes: r.bytes,
      created_at: r.at,
      lease_until: r.leaseUntil,
    })
    .execute();
}

/** Keeps a reservation alive until `leaseUntil`. */
export async function renewStorageReservation(tx: DomainTx, id: string, leaseUntil: Date): Promise<void> {
  await tx
    .updateTable('storage_reservations')
    .set({ lease_until: leaseUntil })
    .where('id', '=', id)
    .execute();
}

/** Gives a reservation up. */
export async function deleteStorageReservation(tx: DomainTx, id: string): Promise<void> {
  await tx.deleteFrom('storage_reservations').where('id', '=', id).execute();
}

/** Locks a resource's row and answers its status; undefined when the domain has no such resource. */
export async function lockResourceStatus(
  tx: DomainTx,
  domainId: string,
  resourceId: string,
): Promise<string | undefined> {
  const row = await tx
    .selectFrom('resources')
    .select('status')
    .where('id', '=', resourceId)
    .where('domain_id', '=', domainId)
    .forUpdate()
    .executeTakeFirst();
  return row?.status;
}

/** Records the bytes a resource holds now. */
export async function recordUsedBytes(
  tx: DomainTx,
  domainId: string,
  resourceId: string,
  usedBytes: number,
): Promise<void> {
  await tx
    .updateTable('resources')
    .set({ used_bytes: usedBytes, updated_at: new Date() })
    .where('id', '=', resourceId)
    .where('domain_id', '=', domainId)
    .execute();
}

/** Reservations across domains whose lease ran out before `before` (every one when null), by id. */
export function abandonedStorageReservations(
  tx: SystemTx,
  before: Date | null,
  limit: number,
): Promise<{ id: string; domain_id: string; resource_id: string }[]> {
  let q = tx.selectFrom('storage_reservations').select(['id', 'domain_id', 'resource_id']);
  if (before !== null) q = q.where('lease_until', '<', before);
  return q.orderBy('id').limit(limit).execute();
}
