// A domain's resources through their life: read, locked, moved from one status to the next. Each move
// names the status it leaves (in its WHERE), so a row another process moved on meanwhile is left as it
// is and the caller sees `undefined`. Domain-scoped functions take a `DomainTx`; what crosses domains
// (the reconciler's scan, its lease, the owner of a backend object) takes a `SystemTx`.
import { sql } from 'kysely';
import type { ResourceKind } from '../../domain/kinds.js';
import { notFound } from '../../errors.js';
import type { ResourceRow, ResourceStatus } from '../schema.js';
import type { DomainQueries, DomainTx, SystemTx } from '../store.js';
import { leaseFree } from './leases.js';

/** The statuses a crash can leave a resource in, which the reconciler finishes or undoes. */
const unfinished = ['pending', 'provisioning', 'deprovisioning'] as const;

/** A resource of the domain; undefined when there is none. */
export function findResource(
  tx: DomainTx,
  domainId: string,
  resourceId: string,
): Promise<ResourceRow | undefined> {
  return tx
    .selectFrom('resources')
    .selectAll()
    .where('id', '=', resourceId)
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
}

/** A resource the transaction's domain holds; throws when there is none. */
export function resourceById(tx: DomainTx, resourceId: string): Promise<ResourceRow> {
  return tx.selectFrom('resources').selectAll().where('id', '=', resourceId).executeTakeFirstOrThrow();
}

/** The query of one resource, for `Store.read`. */
export function resourceQuery(db: DomainQueries, resourceId: string) {
  return db.selectFrom('resources').selectAll().where('id', '=', resourceId);
}

/** A resource of the domain, its row locked for the rest of the transaction; `not_found` otherwise. */
export async function lockResource(tx: DomainTx, domainId: string, resourceId: string): Promise<ResourceRow> {
  const row = await tx
    .selectFrom('resources')
    .selectAll()
    .where('id', '=', resourceId)
    .where('domain_id', '=', domainId)
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) throw notFound();
  return row;
}

/** The domain's resources by id; deleted ones only when asked, and with `kinds`, only those kinds. */
export function listResources(
  tx: DomainTx,
  domainId: string,
  options: { includeDeleted?: boolean | undefined; kinds?: readonly ResourceKind[] | undefined },
): Promise<ResourceRow[]> {
  let q = tx.selectFrom('resources').selectAll().where('domain_id', '=', domainId);
  if (options.includeDeleted !== true) q = q.where('status', '<>', 'deleted');
  if (options.kinds !== undefined) q = q.where('kind', 'in', options.kinds);
  return q.orderBy('id').execute();
}

/** The domain's resource made with `idempotencyKey`, if any. */
export function resourceByIdempotencyKey(
  tx: DomainTx,
  domainId: string,
  idempotencyKey: string,
): Promise<ResourceRow | undefined> {
  return tx
    .selectFrom('resources')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
}

/** The statement that makes a resource still `provisioning` ready, with its sealed credentials. */
export function markReadyStatement(db: DomainTx, resourceId: string, sealedCredentials: string) {
  const now = new Date();
  return db
    .updateTable('resources')
    .set({
      status: 'ready',
      credentials: sealedCredentials,
      error: null,
      lease_until: null,
      ready_at: now,
      updated_at: now,
    })
    .where('id', '=', resourceId)
    .where('status', '=', 'provisioning')
    .returningAll();
}

/** Makes a resource still `provisioning` ready; undefined when it moved on. */
export function markReady(
  tx: DomainTx,
  resourceId: string,
  sealedCredentials: string,
): Promise<ResourceRow | undefined> {
  return markReadyStatement(tx, resourceId, sealedCredentials).executeTakeFirst();
}

/** A condition that holds when this transaction wrote the resource's current version. */
export function changedInThisTransaction(resourceId: string) {
  return sql`EXISTS (SELECT 1 FROM resources
    WHERE id = ${resourceId} AND xmin = pg_current_xact_id()::xid)`;
}

/**
 * Records a failed allocation of a resource still `provisioning`: `failed`, or left `provisioning` when
 * what the backend made is not undone yet. Undefined when it moved on.
 */
export function markFailed(
  tx: DomainTx,
  resourceId: string,
  outcome: { undone: boolean; refused: boolean; error: string },
): Promise<ResourceRow | undefined> {
  return tx
    .updateTable('resources')
    .set({
      status: outcome.undone ? 'failed' : 'provisioning',
      refused: outcome.refused,
      error: outcome.error.slice(0, 500),
      lease_until: null,
      updated_at: new Date(),
    })
    .where('id', '=', resourceId)
    .where('status', '=', 'provisioning')
    .returningAll()
    .executeTakeFirst();
}

/** Fails a resource whose create was not finished because its domain is no longer active. */
export function markAbandoned(
  tx: DomainTx,
  resourceId: string,
  error: string,
): Promise<ResourceRow | undefined> {
  return tx
    .updateTable('resources')
    .set({ status: 'failed', error, lease_until: null, updated_at: new Date() })
    .where('id', '=', resourceId)
    .where('status', 'in', ['pending', 'provisioning'])
    .returningAll()
    .executeTakeFirst();
}

/** Marks a resource for removal from its backend, under a lease until `leaseUntil`. */
export function markDeprovisioning(tx: DomainTx, resourceId: string, leaseUntil: Date): Promise<ResourceRow> {
  return tx
    .updateTable('resources')
    .set({ status: 'deprovisioning', lease_until: leaseUntil, updated_at: new Date() })
    .where('id', '=', resourceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Extends the lease of a resource being deleted by the process that holds it, so no reconciler takes it
 * while the backend still works. False when the row has moved on (deleted meanwhile).
 */
export async function renewResourceLease(
  tx: DomainTx,
  resourceId: string,
  leaseUntil: Date,
): Promise<boolean> {
  const row = await tx
    .updateTable('resources')
    .set({ lease_until: leaseUntil })
    .where('id', '=', resourceId)
    .where('status', '=', 'deprovisioning')
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Records a resource gone from its backend: deleted, its credentials dropped. Undefined when it was already. */
export function markDeleted(tx: DomainTx, resourceId: string): Promise<ResourceRow | undefined> {
  const now = new Date();
  return tx
    .updateTable('resources')
    .set({ status: 'deleted', credentials: null, lease_until: null, deleted_at: now, updated_at: now })
    .where('id', '=', resourceId)
    .where('status', 'in', ['deprovisioning', 'provisioning', 'pending'])
    .returningAll()
    .executeTakeFirst();
}

/**
 * Marks every resource of a domain being deleted for removal, leaseless so the reconciler takes them at
 * once; answers how many.
 */
export async function markDomainResourcesForRemoval(
  tx: DomainTx,
  domainId: string,
  at: Date,
): Promise<number> {
  const marked = await tx
    .updateTable('resources')
    .set({ status: 'deprovisioning', lease_until: null, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .executeTakeFirst();
  return Number(marked.numUpdatedRows);
}

/** Replaces a resource's sealed credentials. */
export async function storeCredentials(tx: DomainTx, resourceId: string, sealed: string): Promise<void> {
  await tx
    .updateTable('resources')
    .set({ credentials: sealed, updated_at: new Date() })
    .where('id', '=', resourceId)
    .execute();
}

/** Records why the reconciler could not finish a resource this round, and gives it up when told to. */
export async function recordAttemptFailure(
  tx: DomainTx,
  resourceId: string,
  error: string,
  giveUp: boolean,
): Promise<void> {
  await tx
    .updateTable('resources')
    .set({
      error: error.slice(0, 500),
      lease_until: null,
      ...(giveUp ? { status: 'failed' as const } : {}),
    })
    .where('id', '=', resourceId)
    .execute();
}

/**
 * Resources a crash left half done and nobody holds a lease on, by id: those on one of `backends` (a
 * kind and the backend this server has for it), never recorded on any, or refused by theirs.
 */
export async function unfinishedResources(
  tx: SystemTx,
  backends: readonly { kind: string; type: string; location: string }[],
  limit: number,
): Promise<string[]> {
  const rows = await tx
    .selectFrom('resources')
    .select('id')
    .where('status', 'in', unfinished)
    .where(leaseFree(new Date()))
    .where((eb) =>
      eb.or([
        eb('backend', 'is', null),
        eb('refused', '=', true),
        ...backends.map((b) =>
          eb.and([
            eb('kind', '=', b.kind),
            eb('backend', '=', b.type),
            eb('backend_location', '=', b.location),
          ]),
        ),
      ]),
    )
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/** Takes the lease on an unfinished resource until `leaseUntil` if nobody holds it, counting the attempt. */
export function claimResource(
  tx: SystemTx,
  resourceId: string,
  now: Date,
  leaseUntil: Date,
): Promise<ResourceRow | undefined> {
  return tx
    .updateTable('resources')
    .set((eb) => ({ lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
    .where('id', '=', resourceId)
    .where('status', 'in', unfinished)
    .where(leaseFree(now))
    .returningAll()
    .executeTakeFirst();
}

/** The status and domain of a resource of `kind`, whichever domain holds it. */
export function resourceOwner(
  tx: SystemTx,
  resourceId: string,
  kind: string,
): Promise<{ status: ResourceStatus; domain_id: string } | undefined> {
  return tx
    .selectFrom('resources')
    .select(['status', 'domain_id'])
    .where('id', '=', resourceId)
    .where('kind', '=', kind)
    .executeTakeFirst();
}
