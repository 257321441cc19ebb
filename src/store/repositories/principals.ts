// Principals: the users and services of one domain. The lookups by credential cross domains (a login
// names its domain only by reference, a client id names none) and take a `SystemTx`; the rest run in
// the domain's own transaction. Locks are taken here as the callers' checks need them.
import type { PrincipalRole, PrincipalRow } from '../schema.js';
import type { DomainTx, SystemQueries, SystemTx, Tx } from '../store.js';

/**
 * Whether the principal is still active with the secret `checked` holds, locking its row against a
 * change (FOR SHARE) until the transaction ends.
 */
export async function lockIfUnchanged(tx: Tx, checked: PrincipalRow): Promise<boolean> {
  const row = await tx
    .selectFrom('principals')
    .select('id')
    .where('id', '=', checked.id)
    .where('domain_id', '=', checked.domain_id)
    .where('status', '=', 'active')
    .where('secret_hash', '=', checked.secret_hash)
    .forShare()
    .executeTakeFirst();
  return row !== undefined;
}

/** The domain's principal with this id, whatever its status. */
function principalById(tx: DomainTx, domainId: string, principalId: string) {
  return tx
    .selectFrom('principals')
    .selectAll()
    .where('id', '=', principalId)
    .where('domain_id', '=', domainId);
}

/** The domain's principal that is not deleted, locked until the transaction ends; undefined when none. */
export function lockLivePrincipal(
  tx: DomainTx,
  domainId: string,
  principalId: string,
): Promise<PrincipalRow | undefined> {
  return principalById(tx, domainId, principalId)
    .where('status', '<>', 'deleted')
    .forUpdate()
    .executeTakeFirst();
}

/** The domain's active principal with this id (for userinfo); undefined when none. */
export function findActivePrincipal(
  tx: DomainTx,
  domainId: string,
  principalId: string,
): Promise<PrincipalRow | undefined> {
  return principalById(tx, domainId, principalId).where('status', '=', 'active').executeTakeFirst();
}

/** Inserts an active principal and answers its row. */
export function insertPrincipal(
  tx: DomainTx,
  p: {
    id: string;
    domainId: string;
    kind: 'user' | 'service';
    email: string | null;
    clientId: string | null;
    secretHash: string;
    role: PrincipalRole;
    at: Date;
  },
): Promise<PrincipalRow> {
  return tx
    .insertInto('principals')
    .values({
      id: p.id,
      domain_id: p.domainId,
      kind: p.kind,
      email: p.email,
      client_id: p.clientId,
      secret_hash: p.secretHash,
      status: 'active',
      role: p.role,
      created_at: p.at,
      updated_at: p.at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The domain's principals that are not deleted, by id. */
export function livePrincipals(tx: DomainTx, domainId: string): Promise<PrincipalRow[]> {
  return tx
    .selectFrom('principals')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('status', '<>', 'deleted')
    .orderBy('id')
    .execute();
}

/** Moves a principal to `status` and answers its row. */
export function setPrincipalStatus(
  tx: DomainTx,
  principalId: string,
  status: 'disabled' | 'deleted',
  at: Date,
): Promise<PrincipalRow> {
  return tx
    .updateTable('principals')
    .set({ status, updated_at: at })
    .where('id', '=', principalId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Gives a principal `role` and answers its row. */
export function setPrincipalRole(
  tx: DomainTx,
  principalId: string,
  role: PrincipalRole,
  at: Date,
): Promise<PrincipalRow> {
  return tx
    .updateTable('principals')
    .set({ role, updated_at: at })
    .where('id', '=', principalId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Replaces a principal's secret hash and answers its row. */
export function setPrincipalSecret(
  tx: DomainTx,
  principalId: string,
  secretHash: string,
  at: Date,
): Promise<PrincipalRow> {
  return tx
    .updateTable('principals')
    .set({ secret_hash: secretHash, updated_at: at })
    .where('id', '=', principalId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The active user with this (canonical) email in the active domain named by id or by slug, in one
 * statement whether or not the domain exists.
 */
export function findActiveUser(
  tx: SystemTx,
  domain: { readonly id: string } | { readonly slug: string },
  email: string,
): Promise<PrincipalRow | undefined> {
  return tx
    .selectFrom('principals')
    .selectAll()
    .where('domain_id', '=', (eb) =>
      eb
        .selectFrom('domains')
        .select('id')
        .where('status', '=', 'active')
        .where('id' in domain ? 'id' : 'slug', '=', 'id' in domain ? domain.id : domain.slug),
    )
    .where('kind', '=', 'user')
    .where('status', '=', 'active')
    .where('email', '=', email)
    .executeTakeFirst();
}

/**
 * The statement (for `Store.systemRead`) that finds the active service with this client id in an active
 * domain, with its stored secret hash: read at every client authentication, never remembered.
 */
export function activeClientStatement(db: SystemQueries | SystemTx, clientId: string) {
  return db
    .selectFrom('principals')
    .innerJoin('domains', 'domains.id', 'principals.domain_id')
    .selectAll('principals')
    .where('principals.client_id', '=', clientId)
    .where('principals.status', '=', 'active')
    .where('domains.status', '=', 'active');
}
