// Each domain's data key, stored only wrapped by the master key. A row with no wrapped key is a
// destroyed key (crypto-shredding), and a destroyed key is never made again: creating one does nothing
// where a row exists, destroyed or not. Callers hold a scoped transaction.
import type { DomainKeyRow } from '../schema.js';
import type { DomainQueries, Tx } from '../store.js';

/** The statement (for `Store.read`) of the domain's data key row: `findDomainKey` in one round trip. */
export function domainKeyStatement(db: DomainQueries, domainId: string) {
  return db.selectFrom('domain_keys').selectAll().where('domain_id', '=', domainId);
}

/** The domain's wrapped data key (null once destroyed); undefined when the domain never had one. */
export function findDomainKey(tx: Tx, domainId: string): Promise<DomainKeyRow | undefined> {
  return tx.selectFrom('domain_keys').selectAll().where('domain_id', '=', domainId).executeTakeFirst();
}

/** Records the domain's wrapped data key unless it has a row already (a live or a destroyed key). */
export async function insertDomainKeyIfAbsent(
  tx: Tx,
  domainId: string,
  wrappedKey: string,
  at: Date,
): Promise<void> {
  await tx
    .insertInto('domain_keys')
    .values({ domain_id: domainId, wrapped_key: wrappedKey, created_at: at })
    .onConflict((oc) => oc.column('domain_id').doNothing())
    .execute();
}

/**
 * Destroys the domain's data key at `at`; a domain that never had one gets a destroyed one, so none can
 * be made for it later. True when this changed anything (false when it was destroyed already).
 */
export async function destroyDomainKey(tx: Tx, domainId: string, at: Date): Promise<boolean> {
  const result = await tx
    .insertInto('domain_keys')
    .values({ domain_id: domainId, wrapped_key: null, created_at: at, destroyed_at: at })
    .onConflict((oc) =>
      oc
        .column('domain_id')
        .doUpdateSet({ wrapped_key: null, destroyed_at: at })
        .where('domain_keys.wrapped_key', 'is not', null),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}
