// Instances: a domain's compute records, read and changed in the domain's own transaction (or read in
// one message through `Store.read`'s builder). A row about to change is locked first; the count a
// create checks against the quota is read after the caller locked the domain's row (`lockDomain`).
import type { InstanceRow } from '../schema.js';
import type { DomainQueries, DomainTx } from '../store.js';

/** The statement (for `Store.read`) that finds a live instance of the domain by id. */
export function liveInstanceStatement(db: DomainQueries | DomainTx, domainId: string, instanceId: string) {
  return db
    .selectFrom('instances')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', instanceId)
    .where('status', '<>', 'deleted');
}

/** A live instance of the domain, locked until the transaction ends; undefined when there is none. */
export function lockLiveInstance(
  tx: DomainTx,
  domainId: string,
  instanceId: string,
): Promise<InstanceRow | undefined> {
  return liveInstanceStatement(tx, domainId, instanceId).forUpdate().executeTakeFirst();
}

/** The statement (for `Store.read`) that lists the domain's live instances by id, at most 1000. */
export function liveInstancesStatement(db: DomainQueries, domainId: string) {
  return db
    .selectFrom('instances')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .orderBy('id')
    .limit(1000);
}

/** How many live instances the domain has. */
export async function countLiveInstances(tx: DomainTx, domainId: string): Promise<number> {
  const live = await tx
    .selectFrom('instances')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .executeTakeFirstOrThrow();
  return Number(live.n);
}

/** Inserts a running instance and answers its row. */
export function insertInstance(
  tx: DomainTx,
  i: { id: string; domainId: string; name: string; at: Date },
): Promise<InstanceRow> {
  return tx
    .insertInto('instances')
    .values({
      id: i.id,
      domain_id: i.domainId,
      name: i.name,
      status: 'running',
      created_at: i.at,
      updated_at: i.at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks an instance deleted at `at` and answers its row. */
export function markInstanceDeleted(
  tx: DomainTx,
  domainId: string,
  instanceId: string,
  at: Date,
): Promise<InstanceRow> {
  return tx
    .updateTable('instances')
    .set({ status: 'deleted', deleted_at: at, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('id', '=', instanceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Ends every instance of a domain being deleted at `at`, in the transaction that deletes it; answers how many. */
export async function markDomainInstancesDeleted(tx: DomainTx, domainId: string, at: Date): Promise<number> {
  const result = await tx
    .updateTable('instances')
    .set({ status: 'deleted', deleted_at: at, updated_at: at })
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The domain's instance with this id, whatever its status, locked; undefined when there is none. */
export function lockInstanceRow(
  tx: DomainTx,
  domainId: string,
  instanceId: string,
): Promise<InstanceRow | undefined> {
  return tx
    .selectFrom('instances')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', instanceId)
    .forUpdate()
    .executeTakeFirst();
}
