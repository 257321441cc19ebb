// The statements that reserve a resource: its backend name, taken for good, and its row, inserted in one
// statement. Both read after the caller locked the domain's row (`lockDomain`), so the key's liveness
// (`liveKey`), the domain's status and the pool's room are what committed before the lock was granted.
import { sql, type ExpressionBuilder, type Insertable } from 'kysely';
import type { ResourceKind } from '../../domain/kinds.js';
import type { Database, ResourceRow } from '../schema.js';
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

/** The backend name a reservation takes for good. */
function backendNameValues(r: Reservation) {
  return {
    name: r.backendName,
    kind: r.kind,
    domain_id: r.domainId,
    resource_id: r.id,
    reserved_at: r.at,
  } satisfies Insertable<Database['backend_names']>;
}

/** The resource row a reservation inserts, but its key (the checked key's, in the one-statement path). */
function resourceValues(r: Reservation) {
  return {
    id: r.id,
    domain_id: r.domainId,
    kind: r.kind,
    name: r.name,
    status: 'provisioning' as const,
    backend_name: r.backendName,
    idempotency_key: r.idempotencyKey,
    blueprint_id: r.blueprintId,
    lease_until: r.leaseUntil,
    created_at: r.at,
    updated_at: r.at,
    backend: r.backend.type,
    backend_location: r.backend.location,
  } satisfies Omit<Insertable<Database['resources']>, 'key_id'>;
}

/** The columns of `values`, in their order. */
function columnsOf<V extends object>(values: V): (keyof V & string)[] {
  return Object.keys(values) as (keyof V & string)[];
}

/** `values` as the selections of an INSERT … SELECT: each value bound, and named after its column. */
function boundValues<DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>, values: object) {
  return Object.entries(values).map(([column, value]) => eb.val(value).as(column));
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
    .with('reserved', (qc) => {
      const name = backendNameValues(r);
      return qc
        .insertInto('backend_names')
        .columns(columnsOf(name))
        .expression((eb) => eb.selectFrom('allowed').select(boundValues(eb, name)));
    })
    .insertInto('resources')
    .columns([...columnsOf(resourceValues(r)), 'key_id'])
    .expression((eb) =>
      eb.selectFrom('allowed').select([...boundValues(eb, resourceValues(r)), 'allowed.key_id']),
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
    .with('reserved', (db) => db.insertInto('backend_names').values(backendNameValues(r)))
    .insertInto('resources')
    .values({ ...resourceValues(r), key_id: r.keyId })
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
