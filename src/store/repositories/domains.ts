// The domain row as the lock that orders a domain's changes: revocation, suspension, reservations and
// quota checks all take it first, so whatever committed before the lock was granted is what they read.
// Callers hold a scoped transaction; nothing here opens one.
import { notFound } from '../../errors.js';
import type { DomainRow, DomainStatus } from '../schema.js';
import type { DomainQueries, DomainTx, SystemQueries, SystemTx, Tx } from '../store.js';

/** The statement that locks a domain's row, for a change sent in one message (`Store.change`). */
export function lockDomainStatement(db: DomainTx, domainId: string) {
  return db.selectFrom('domains').select('id').where('id', '=', domainId).forUpdate();
}

/** Reads and locks a domain row inside `tx`; undefined when there is none. */
export function lockDomainIfAny(tx: Tx, domainId: string): Promise<DomainRow | undefined> {
  return tx.selectFrom('domains').selectAll().where('id', '=', domainId).forUpdate().executeTakeFirst();
}

/** Reads and locks a domain row inside `tx`; unknown ids are `not_found`. */
export async function lockDomain(tx: Tx, domainId: string): Promise<DomainRow> {
  const row = await lockDomainIfAny(tx, domainId);
  if (row === undefined) throw notFound();
  return row;
}

/** Reads and locks the rows of the domains named (those that exist), for a change that involves each. */
export function lockDomainStatuses(
  tx: SystemTx,
  domainIds: readonly string[],
): Promise<{ id: string; status: DomainStatus }[]> {
  return tx.selectFrom('domains').select(['id', 'status']).where('id', 'in', domainIds).forUpdate().execute();
}

/** A domain row, without a lock; undefined when there is none. */
export function findDomain(tx: Tx, domainId: string): Promise<DomainRow | undefined> {
  return tx.selectFrom('domains').selectAll().where('id', '=', domainId).executeTakeFirst();
}

/** The statement (for `Store.read`) that answers the domain's id when the domain exists. */
export function domainIdStatement(db: DomainQueries, domainId: string) {
  return db.selectFrom('domains').select('id').where('id', '=', domainId);
}

/** What `domainRows` selects by. */
export interface DomainRowFilter {
  readonly status?: DomainStatus | undefined;
  readonly includeDeleted?: boolean | undefined;
  /** Matches the normalised slug. */
  readonly slug?: string | undefined;
  readonly after?: string | undefined;
  readonly limit: number;
}

/**
 * Domains by id, from after `after`, at most `limit`: with `status` those in it, else with
 * `includeDeleted` every one and without it those not deleted; with `slug` (normalised) only the ones
 * with that slug. The system context sees every domain, a domain's own context only itself.
 */
export function domainRows(tx: Tx, filter: DomainRowFilter): Promise<DomainRow[]> {
  let q = tx.selectFrom('domains').selectAll();
  if (filter.status !== undefined) q = q.where('status', '=', filter.status);
  else if (filter.includeDeleted !== true) q = q.where('status', '<>', 'deleted');
  if (filter.slug !== undefined) q = q.where('slug', '=', filter.slug);
  if (filter.after !== undefined) q = q.where('id', '>', filter.after);
  return q.orderBy('id', 'asc').limit(filter.limit).execute();
}

/** The statement (for `Store.systemRead`) that finds the active domain with this (normalised) slug. */
export function activeDomainBySlugStatement(db: SystemQueries, slug: string) {
  return db
    .selectFrom('domains')
    .select(['id', 'slug'])
    .where('status', '=', 'active')
    .where('slug', '=', slug)
    .limit(1);
}

/** Whether a domain with this slug was deleted after `since` (its slug still quarantined). */
export async function slugDeletedSince(tx: SystemTx, slug: string, since: Date): Promise<boolean> {
  const recent = await tx
    .selectFrom('domains')
    .select('id')
    .where('slug', '=', slug)
    .where('status', '=', 'deleted')
    .where('deleted_at', '>', since)
    .executeTakeFirst();
  return recent !== undefined;
}

/** Inserts an active domain and answers its row. */
export function insertDomain(
  tx: SystemTx,
  d: { id: string; slug: string; name: string; at: Date },
): Promise<DomainRow> {
  return tx
    .insertInto('domains')
    .values({ id: d.id, slug: d.slug, name: d.name, status: 'active', created_at: d.at, updated_at: d.at })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Moves a domain to `status` at `at`, with the times of suspension and deletion given; answers its row. */
export function setDomainStatus(
  tx: DomainTx,
  domainId: string,
  change: {
    status: DomainStatus;
    at: Date;
    suspendedAt: Date | null;
    deletedAt: Date | null;
    /** Why it is suspended; left as it is when not given. */
    suspendReason?: string | null | undefined;
  },
): Promise<DomainRow> {
  return tx
    .updateTable('domains')
    .set({
      status: change.status,
      updated_at: change.at,
      suspended_at: change.suspendedAt,
      deleted_at: change.deletedAt,
      ...(change.suspendReason === undefined ? {} : { suspend_reason: change.suspendReason }),
    })
    .where('id', '=', domainId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The domain's status, without a lock; undefined when there is no such domain. */
export async function domainStatus(tx: DomainTx, domainId: string): Promise<DomainStatus | undefined> {
  const row = await tx.selectFrom('domains').select('status').where('id', '=', domainId).executeTakeFirst();
  return row?.status;
}

/** The statement that reads the domain's wrapped data key (no row once it was destroyed). */
export function wrappedDataKeyStatement(db: DomainTx, domainId: string) {
  return db.selectFrom('domain_keys').select('wrapped_key').where('domain_id', '=', domainId);
}

/**
 * Deleted domains whose data key is still there (or never recorded) and that have no resource left
 * but deleted ones: the reconciler destroys their keys.
 */
export async function deletedDomainsToShred(tx: SystemTx): Promise<string[]> {
  const rows = await tx
    .selectFrom('domains')
    .leftJoin('domain_keys', 'domain_keys.domain_id', 'domains.id')
    .select('domains.id')
    .where('domains.status', '=', 'deleted')
    .where((eb) =>
      eb.or([eb('domain_keys.wrapped_key', 'is not', null), eb('domain_keys.domain_id', 'is', null)]),
    )
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('resources')
            .select('resources.id')
            .whereRef('resources.domain_id', '=', 'domains.id')
            .where('resources.status', '<>', 'deleted'),
        ),
      ),
    )
    .execute();
  return rows.map((r) => r.id);
}
