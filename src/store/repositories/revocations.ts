// The revocation feed's table: a row is inserted in the transaction that causes the revocation, and read
// back in order of its sequence number. Reading the whole feed crosses domains (`SystemTx`).
import type { RevocationRow } from '../schema.js';
import type { Tx } from '../store.js';

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

/** Revocations at or after `since`, by sequence number, at most `limit`. */
export function revocationRowsSince(tx: Tx, since: Date, limit: number): Promise<RevocationRow[]> {
  return tx
    .selectFrom('revocations')
    .selectAll()
    .where('at', '>=', since)
    .orderBy('seq')
    .limit(limit)
    .execute();
}
