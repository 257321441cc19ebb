// Blueprints: a set of resources provisioned as one saga, recorded under a lease so that the reconciler
// can roll back one a crash left half done. Domain-scoped functions take a `DomainTx`; the scan for
// stale blueprints crosses domains and takes a `SystemTx`.
import type { BlueprintRow, BlueprintStatus, ResourceRow } from '../schema.js';
import type { DomainTx, SystemTx } from '../store.js';
import { leaseFree } from './leases.js';

/** Records a blueprint being provisioned, under a lease until `leaseUntil`. */
export async function insertBlueprint(
  tx: DomainTx,
  b: { id: string; domainId: string; name: string; spec: unknown; at: Date; leaseUntil: Date },
): Promise<void> {
  await tx
    .insertInto('blueprints')
    .values({
      id: b.id,
      domain_id: b.domainId,
      name: b.name,
      status: 'provisioning',
      spec: JSON.stringify(b.spec),
      lease_until: b.leaseUntil,
      created_at: b.at,
      updated_at: b.at,
    })
    .execute();
}

/** A blueprint of the domain; undefined when there is none. */
export function findBlueprint(
  tx: DomainTx,
  domainId: string,
  blueprintId: string,
): Promise<BlueprintRow | undefined> {
  return tx
    .selectFrom('blueprints')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', blueprintId)
    .executeTakeFirst();
}

/** The blueprint's resources by id; with `liveOnly`, those not deleted. */
export function blueprintResources(
  tx: DomainTx,
  domainId: string,
  blueprintId: string,
  liveOnly = false,
): Promise<ResourceRow[]> {
  let q = tx
    .selectFrom('resources')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('blueprint_id', '=', blueprintId);
  if (liveOnly) q = q.where('status', '<>', 'deleted');
  return q.orderBy('id').execute();
}

/** Moves a blueprint to `status`; a finished one gives up its lease. */
export async function setBlueprintStatus(
  tx: DomainTx,
  domainId: string,
  blueprintId: string,
  status: BlueprintStatus,
  error: string | null,
): Promise<void> {
  await tx
    .updateTable('blueprints')
    .set({
      status,
      error,
      ...(status === 'ready' || status === 'rolled_back' ? { lease_until: null } : {}),
      updated_at: new Date(),
    })
    .where('domain_id', '=', domainId)
    .where('id', '=', blueprintId)
    .execute();
}

/** Blueprints across domains left unfinished whose lease ran out. */
export function staleBlueprints(tx: SystemTx, limit: number): Promise<{ id: string; domain_id: string }[]> {
  return tx
    .selectFrom('blueprints')
    .select(['id', 'domain_id'])
    .where('status', 'in', ['provisioning', 'rolling_back'])
    .where(leaseFree(new Date()))
    .limit(limit)
    .execute();
}
