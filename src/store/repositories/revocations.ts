// The revocation feed's table: a row is inserted in the transaction that causes the revocation, and read
// back in order of its sequence number. Reading the whole feed crosses domains (`SystemTx`); a domain's
// own read goes through its scope (`DomainTx`), where row-level security shows its rows alone.
import type { RevocationRow } from '../schema.js';
import type { DomainTx, SystemTx, Tx } from '../store.js';

/** Records a revocation at `at` and answers its row (with its sequence number). */
export function insertRevocation(
  tx: Tx,
  r: { kind: RevocationRow['kind']; target: string; domainId: string; at: Date },
): Promise<RevocationRow> {
  return tx
    .insertInto('revocations')
    .values({ kind: r.kind, target: r.target, domain_id: r.domainId, at: r.at })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Revocations of every domain at or after `since`, by sequence number, at most `limit`. */
export function revocationRowsSince(tx: SystemTx, since: Date, limit: number): Promise<RevocationRow[]> {
  return tx
    .selectFrom('revocations')
    .selectAll()
    .where('at', '>=', since)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** One domain's revocations at or after `since`, by sequence number, at most `limit`. */
export function domainRevocationRowsSince(
  tx: DomainTx,
  domainId: string,
  since: Date,
  limit: number,
): Promise<RevocationRow[]> {
  return tx
    .selectFrom('revocations')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('at', '>=', since)
    .orderBy('seq')
    .limit(limit)
    .execute();
}
