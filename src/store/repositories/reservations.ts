// The statements that reserve a resource: its backend name, taken for good, and its row, inserted in one
// statement. Both read after the caller locked the domain's row (`lockDomain`), so the key's liveness
// (`liveKey`), the domain's status and the pool's room are what committed before the lock was granted.
import { sql } from 'kysely';
import type { ResourceKind } from '../../domain/kinds.js';
import type { ResourceRow } from '../schema.js';
import type { DomainTx } from '../store.js';
import { liveKey } from './keys.js';

/** What a reservation records. */
export interface Reservation {
  readonly id: string;
  readonly domainId: string;
  readonly kind: ResourceKind;
  readonly name: string;
  readonly backendName: string;
  readonly idempotencyKey: string | null;
  readonly keyId: string;
  readonly blueprintId: string | null;
  readonly leaseUntil: Date;
  readonly at: Date;
  readonly backend: { readonly type: string; readonly location: string };
}

/**
 * The statement that reserves `r` only if the key is live and scoped to create the kind, and the pool has
 * room for one more (`perKindDefault` when the pool sets no quota for the kind): it returns the new row,
 * or nothing when a check failed. A taken name or a repeated idempotency key fails it on a unique index.
 */
export function reserveIfAllowedStatement(db: DomainTx, r: Reservation, perKindDefault: number) {
  return db
    .with('allowed', (qc) =>
      qc
        .selectFrom('provisioning_keys as k')
        .innerJoin('domains as d', 'd.id', 'k.domain_id')
        .select('k.id as key_id')
        .where('k.id', '=', r.keyId)
        .where('k.domain_id', '=', r.domainId)
        .where(liveKey(r.at))
        .where(
          sql<boolean>`(k.scopes @> jsonb_build_array(${r.kind}::text)
            OR k.scopes @> jsonb_build_array(${`${r.kind}:create`}::text))`,
        )
        .where(
          sql<boolean>`(SELECT count(*) FROM resources r
            WHERE r.domain_id = ${r.domainId} AND r.kind = ${r.kind} AND r.status <> 'deleted'
              AND NOT r.refused)
            < COALESCE((SELECT (p.quotas ->> ${r.kind})::numeric FROM pools p
              WHERE p.domain_id = ${r.domainId}), ${perKindDefault})`,
        ),
    )
    .with('reserved', (qc) =>
      qc
        .insertInto('backend_names')
        .columns(['name', 'kind', 'domain_id', 'resource_id', 'reserved_at'])
        .expression((eb) =>
          eb
            .selectFrom('allowed')
            .select([
              eb.val(r.backendName).as('name'),
              eb.val(r.kind).as('kind'),
              eb.val(r.domainId).as('domain_id'),
              eb.val(r.id).as('resource_id'),
              eb.val(r.at).as('reserved_at'),
            ]),
        ),
    )
    .insertInto('resources')
    .columns([
      'id',
      'domain_id',
      'kind',
      'name',
      'status',
      'backend_name',
      'idempotency_key',
      'key_id',
      'blueprint_id',
      'lease_until',
      'created_at',
      'updated_at',
      'backend',
      'backend_location',
    ])
    .expression((eb) =>
      eb
        .selectFrom('allowed')
        .select([
          eb.val(r.id).as('id'),
          eb.val(r.domainId).as('domain_id'),
          eb.val(r.kind).as('kind'),
          eb.val(r.name).as('name'),
          eb.val('provisioning').as('status'),
          eb.val(r.backendName).as('backend_name'),
          eb.val(r.idempotencyKey).as('idempotency_key'),
          'allowed.key_id',
          eb.val(r.blueprintId).as('blueprint_id'),
          eb.val(r.leaseUntil).as('lease_until'),
          eb.val(r.at).as('created_at'),
          eb.val(r.at).as('updated_at'),
          eb.val(r.backend.type).as('backend'),
          eb.val(r.backend.location).as('backend_location'),
        ]),
    )
    .returningAll();
}

/** A condition that holds once resource `resourceId` exists: what follows its reservation counts only then. */
export function resourceInserted(resourceId: string) {
  return sql`EXISTS (SELECT 1 FROM resources WHERE id = ${resourceId})`;
}

/** Inserts the reserved resource and its backend name in one statement; fails on a unique index. */
export function insertReserved(tx: DomainTx, r: Reservation): Promise<ResourceRow> {
  return tx
    .with('reserved', (db) =>
      db.insertInto('backend_names').values({
        name: r.backendName,
        kind: r.kind,
        domain_id: r.domainId,
        resource_id: r.id,
        reserved_at: r.at,
      }),
    )
    .insertInto('resources')
    .values({
      id: r.id,
      domain_id: r.domainId,
      kind: r.kind,
      name: r.name,
      status: 'provisioning',
      backend_name: r.backendName,
      idempotency_key: r.idempotencyKey,
      key_id: r.keyId,
      blueprint_id: r.blueprintId,
      lease_until: r.leaseUntil,
      created_at: r.at,
      updated_at: r.at,
      backend: r.backend.type,
      backend_location: r.backend.location,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** What a reservation decides on, read in one statement once the domain's row is locked. */
export interface ReservationFacts {
  /** Whether the key is live at `at` (`liveKey`); false when it is not the domain's. */
  readonly live: boolean;
  readonly keyId: string;
  readonly scopes: readonly string[];
  /** The pool's quota overrides, if it has any. */
  readonly poolQuotas: Readonly<Record<string, number>>;
  /** The domain's resources of the kind that count against its quota. */
  readonly count: number;
}

/** The key, the pool's quotas and the live count of the kind, read after the domain's row is locked. */
export async function reservationFacts(
  tx: DomainTx,
  args: { domainId: string; keyId: string; kind: ResourceKind; at: Date },
): Promise<ReservationFacts | undefined> {
  const { domainId, kind } = args;
  const row = await tx
    .selectFrom('provisioning_keys as k')
    .innerJoin('domains as d', 'd.id', 'k.domain_id')
    .select(['k.id', 'k.scopes', liveKey(args.at).as('live')])
    .select((eb) => [
      eb.selectFrom('pools').select('quotas').where('domain_id', '=', domainId).as('pool_quotas'),
      eb
        .selectFrom('resources')
        .select((c) => c.fn.countAll<number>().as('n'))
        .where('domain_id', '=', domainId)
        .where('kind', '=', kind)
        .where('status', '<>', 'deleted')
        .where('refused', '=', false)
        .as('count'),
    ])
    .where('k.id', '=', args.keyId)
    .where('k.domain_id', '=', domainId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    live: row.live,
    keyId: row.id,
    scopes: row.scopes,
    poolQuotas: row.pool_quotas ?? {},
    count: Number(row.count ?? 0),
  };
}
