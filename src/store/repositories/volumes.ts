// Volumes: a domain's block-storage records. The tenant's reads and changes run in the domain's own
// transaction (a volume being zeroed is gone for it already); the zeroing worker finds and claims
// deleting volumes across domains under a lease (`SystemTx`), and records each one deleted in its
// domain's transaction. The bytes a create checks against the quota are read after the caller locked
// the domain's row (`lockDomain`).
import type { Updateable } from 'kysely';
import type { VolumeRow, VolumesTable, VolumeStatus } from '../schema.js';
import type { DomainQueries, DomainTx, SystemQueries, SystemTx } from '../store.js';
import { leaseFree } from './leases.js';

/** The statement (for `Store.read`) that finds a live volume of the domain by id. */
export function liveVolumeStatement(db: DomainQueries | DomainTx, domainId: string, volumeId: string) {
  return db
    .selectFrom('volumes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .where('status', 'not in', ['deleting', 'deleted']);
}

/** A live volume of the domain, locked until the transaction ends; undefined when there is none. */
export function lockLiveVolume(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
): Promise<VolumeRow | undefined> {
  return liveVolumeStatement(tx, domainId, volumeId).forUpdate().executeTakeFirst();
}

/** The statement (for `Store.read`) that lists the domain's live volumes by id, at most 1000. */
export function liveVolumesStatement(db: DomainQueries, domainId: string) {
  return db
    .selectFrom('volumes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('status', 'not in', ['deleting', 'deleted'])
    .orderBy('id')
    .limit(1000);
}

/** How many volumes the domain holds and their bytes, counting those still being zeroed. */
export async function volumesHeld(tx: DomainTx, domainId: string): Promise<{ count: number; bytes: number }> {
  const held = await tx
    .selectFrom('volumes')
    .select((eb) => [
      eb.fn.countAll<string>().as('n'),
      eb.fn.coalesce(eb.fn.sum<string>('size_bytes'), eb.lit(0)).as('bytes'),
    ])
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .executeTakeFirstOrThrow();
  return { count: Number(held.n), bytes: Number(held.bytes) };
}

/** Inserts an available volume and answers its row. */
export function insertVolume(
  tx: DomainTx,
  v: { id: string; domainId: string; name: string; sizeBytes: number; at: Date },
): Promise<VolumeRow> {
  return tx
    .insertInto('volumes')
    .values({
      id: v.id,
      domain_id: v.domainId,
      name: v.name,
      size_bytes: v.sizeBytes,
      status: 'available',
      instance_id: null,
      created_at: v.at,
      updated_at: v.at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A detached volume: available, on no instance. */
const detached = { status: 'available', instance_id: null, attached_at: null } as const;

/** Sets `changes` on one of the domain's volumes and answers its row. */
function updateVolume(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
  changes: Updateable<VolumesTable>,
): Promise<VolumeRow> {
  return tx
    .updateTable('volumes')
    .set(changes)
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Detaches (and keeps) every volume attached to the instance; answers their ids. */
export async function detachInstanceVolumes(
  tx: DomainTx,
  domainId: string,
  instanceId: string,
  at: Date,
): Promise<string[]> {
  const rows = await tx
    .updateTable('volumes')
    .set({ ...detached, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('instance_id', '=', instanceId)
    .returning('id')
    .execute();
  return rows.map((v) => v.id);
}

/** Attaches a volume to an instance at `at` and answers its row. */
export function attachVolume(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
  instanceId: string,
  at: Date,
): Promise<VolumeRow> {
  return updateVolume(tx, domainId, volumeId, {
    status: 'attached',
    instance_id: instanceId,
    attached_at: at,
    updated_at: at,
  });
}

/** Detaches a volume and answers its row. */
export function detachVolume(tx: DomainTx, domainId: string, volumeId: string, at: Date): Promise<VolumeRow> {
  return updateVolume(tx, domainId, volumeId, { ...detached, updated_at: at });
}

/** Marks a volume `deleting`, free for the zeroing worker to claim, and answers its row. */
export function markVolumeDeleting(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
  at: Date,
): Promise<VolumeRow> {
  return updateVolume(tx, domainId, volumeId, { status: 'deleting', lease_until: null, updated_at: at });
}

/** Deleting volumes across domains that nobody holds at `now`, oldest change first, at most `limit`. */
export async function volumesToZero(tx: SystemTx, now: Date, limit: number): Promise<string[]> {
  const rows = await tx
    .selectFrom('volumes')
    .select('id')
    .where('status', '=', 'deleting')
    .where(leaseFree(now))
    .orderBy('updated_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/** Takes a deleting volume until `leaseUntil` unless another holds it at `now`; undefined when not free. */
export function claimVolume(
  tx: SystemTx,
  volumeId: string,
  now: Date,
  leaseUntil: Date,
): Promise<VolumeRow | undefined> {
  return tx
    .updateTable('volumes')
    .set({ lease_until: leaseUntil })
    .where('id', '=', volumeId)
    .where('status', '=', 'deleting')
    .where(leaseFree(now))
    .returningAll()
    .executeTakeFirst();
}

/** Keeps the claim on a volume still deleting until `leaseUntil`. */
export async function renewVolumeLease(tx: SystemTx, volumeId: string, leaseUntil: Date): Promise<void> {
  await tx
    .updateTable('volumes')
    .set({ lease_until: leaseUntil })
    .where('id', '=', volumeId)
    .where('status', '=', 'deleting')
    .execute();
}

/** Lets the claim on a volume go. */
export async function releaseVolumeLease(tx: SystemTx, volumeId: string): Promise<void> {
  await tx.updateTable('volumes').set({ lease_until: null }).where('id', '=', volumeId).execute();
}

/** Marks a volume still deleting as deleted at `at`; undefined when it was not deleting. */
export function markVolumeDeleted(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
  at: Date,
): Promise<VolumeRow | undefined> {
  return tx
    .updateTable('volumes')
    .set({ status: 'deleted', lease_until: null, deleted_at: at, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .where('status', '=', 'deleting')
    .returningAll()
    .executeTakeFirst();
}

/** The statement (for `Store.systemRead`) that counts the volumes being deleted across domains. */
export function deletingVolumesStatement(db: SystemQueries) {
  return db
    .selectFrom('volumes')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('status', '=', 'deleting');
}

/** The status of the domain's volume with this id, whatever it is; undefined when there is none. */
export async function volumeStatus(
  tx: SystemTx,
  domainId: string,
  volumeId: string,
): Promise<VolumeStatus | undefined> {
  const row = await tx
    .selectFrom('volumes')
    .select('status')
    .where('id', '=', volumeId)
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
  return row?.status;
}

/**
 * Detaches every live volume of a domain being deleted and marks it `deleting` at `at`, free for the
 * zeroing worker, in the transaction that deletes the domain; answers how many.
 */
export async function markDomainVolumesDeleting(tx: DomainTx, domainId: string, at: Date): Promise<number> {
  const result = await tx
    .updateTable('volumes')
    .set({ ...detached, status: 'deleting', lease_until: null, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('status', 'in', ['available', 'attached'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The domain's volume with this id, whatever its status, locked; undefined when there is none. */
export function lockVolumeRow(
  tx: DomainTx,
  domainId: string,
  volumeId: string,
): Promise<VolumeRow | undefined> {
  return tx
    .selectFrom('volumes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .forUpdate()
    .executeTakeFirst();
}
