// The domain row as the lock that orders a domain's changes: revocation, suspension, reservations and
// quota checks all take it first, so whatever committed before the lock was granted is what they read.
// Callers hold a scoped transaction; nothing here opens one.
import { notFound } from '../../errors.js';
import type { DomainRow, DomainStatus } from '../schema.js';
import type { DomainTx, SystemTx, Tx } from '../store.js';

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
