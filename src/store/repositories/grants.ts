// Cross-domain grants. They join two domains, so every function here takes a `SystemTx`: the operator
// writes and lists them, and the policy asks for the live ones between two active domains on every
// cross-domain request. A grant's row is locked before it is revoked, and a new grant's two domains
// before it is written (`lockDomainStatuses`).
import type { GrantRow } from '../schema.js';
import type { SystemTx } from '../store.js';

/** Inserts a grant and answers its row; actions and resources are stored as given (deduplicated by the caller). */
export function insertGrant(
  tx: SystemTx,
  g: {
    id: string;
    from: string;
    to: string;
    actions: readonly string[];
    resources: readonly string[];
    reason: string;
    createdBy: string;
    at: Date;
    expiresAt: Date;
  },
): Promise<GrantRow> {
  return tx
    .insertInto('grants')
    .values({
      id: g.id,
      from_domain_id: g.from,
      to_domain_id: g.to,
      actions: JSON.stringify(g.actions),
      resources: JSON.stringify(g.resources),
      reason: g.reason,
      created_by: g.createdBy,
      created_at: g.at,
      expires_at: g.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Grants by id, at most 1000: with `domainId` those from or to it; with `liveAt` only those neither
 * revoked nor expired then.
 */
export function grantRows(
  tx: SystemTx,
  filter: { readonly domainId?: string | undefined; readonly liveAt?: Date | undefined },
): Promise<GrantRow[]> {
  let q = tx.selectFrom('grants').selectAll();
  if (filter.domainId !== undefined) {
    const id = filter.domainId;
    q = q.where((eb) => eb.or([eb('from_domain_id', '=', id), eb('to_domain_id', '=', id)]));
  }
  if (filter.liveAt !== undefined)
    q = q.where('revoked_at', 'is', null).where('expires_at', '>', filter.liveAt);
  return q.orderBy('id').limit(1000).execute();
}

/** A grant, locked until the transaction ends; undefined when there is none. */
export function lockGrant(tx: SystemTx, grantId: string): Promise<GrantRow | undefined> {
  return tx.selectFrom('grants').selectAll().where('id', '=', grantId).forUpdate().executeTakeFirst();
}

/** Revokes a grant at `at` and answers its row. */
export function markGrantRevoked(tx: SystemTx, grantId: string, at: Date): Promise<GrantRow> {
  return tx
    .updateTable('grants')
    .set({ revoked_at: at })
    .where('id', '=', grantId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The grants from `from` to `to` live at `now`, both domains active. */
export function liveGrantsBetween(tx: SystemTx, from: string, to: string, now: Date): Promise<GrantRow[]> {
  return tx
    .selectFrom('grants')
    .innerJoin('domains as f', 'f.id', 'grants.from_domain_id')
    .innerJoin('domains as t', 't.id', 'grants.to_domain_id')
    .selectAll('grants')
    .where('grants.to_domain_id', '=', to)
    .where('grants.from_domain_id', '=', from)
    .where('grants.revoked_at', 'is', null)
    .where('grants.expires_at', '>', now)
    .where('f.status', '=', 'active')
    .where('t.status', '=', 'active')
    .execute();
}
