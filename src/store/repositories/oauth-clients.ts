// Each domain's OAuth clients: registered, listed and deleted in the domain's own scope, and found by
// client id in the system context when one authenticates (the client id names no domain).
import { sql } from 'kysely';
import type { DomainTx, SystemQueries, SystemTx } from '../store.js';
import type { OAuthClientRow } from '../schema.js';

export interface NewOAuthClient {
  readonly id: string;
  readonly domainId: string;
  readonly clientId: string;
  readonly name: string;
  readonly kind: 'confidential' | 'public';
  readonly secretHash: string | null;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  readonly jwks?: { keys: Record<string, unknown>[] } | null | undefined;
  readonly redirectUris: readonly string[];
  readonly grantTypes: readonly string[];
  readonly scopes: readonly string[];
  readonly allowedOrigins: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly at: Date;
}

export function insertOAuthClient(tx: DomainTx, c: NewOAuthClient): Promise<OAuthClientRow> {
  return tx
    .insertInto('oauth_clients')
    .values({
      id: c.id,
      domain_id: c.domainId,
      client_id: c.clientId,
      name: c.name,
      kind: c.kind,
      secret_hash: c.secretHash,
      auth_method: c.authMethod,
      jwks: c.jwks == null ? null : JSON.stringify(c.jwks),
      redirect_uris: JSON.stringify(c.redirectUris),
      grant_types: JSON.stringify(c.grantTypes),
      scopes: JSON.stringify(c.scopes),
      allowed_origins: JSON.stringify(c.allowedOrigins),
      post_logout_redirect_uris: JSON.stringify(c.postLogoutRedirectUris),
      created_at: c.at,
      deleted_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The domain's clients that are not deleted, by id. */
export function liveOAuthClients(tx: DomainTx, domainId: string): Promise<OAuthClientRow[]> {
  return tx
    .selectFrom('oauth_clients')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('deleted_at', 'is', null)
    .orderBy('id', 'asc')
    .execute();
}

/** Deletes one of the domain's clients; undefined when the domain has no such live client. */
export function deleteOAuthClient(
  tx: DomainTx,
  domainId: string,
  id: string,
  at: Date,
): Promise<OAuthClientRow | undefined> {
  return tx
    .updateTable('oauth_clients')
    .set({ deleted_at: at })
    .where('domain_id', '=', domainId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * The statement (for `Store.systemRead`) that finds the live client with this client id, of whichever
 * domain (authentication names no domain), with its stored secret hash: read at every request.
 */
export function liveOAuthClientStatement(db: SystemQueries | SystemTx, clientId: string) {
  return db
    .selectFrom('oauth_clients')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('deleted_at', 'is', null);
}

/** Whether a live client of the domain lists this origin among its allowed origins. */
export async function domainAllowsOrigin(tx: DomainTx, domainId: string, origin: string): Promise<boolean> {
  const row = await tx
    .selectFrom('oauth_clients')
    .select('id')
    .where('domain_id', '=', domainId)
    .where('deleted_at', 'is', null)
    .where(sql<boolean>`allowed_origins @> ${JSON.stringify([origin])}::jsonb`)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Spends an assertion's `jti` for the client: false when it was spent before (and has not expired yet).
 * Expired ones of the domain are forgotten on the way.
 */
export async function spendAssertion(
  tx: DomainTx,
  a: { domainId: string; clientId: string; jti: string; expiresAt: Date; now: Date },
): Promise<boolean> {
  await tx
    .deleteFrom('oauth_assertions')
    .where('domain_id', '=', a.domainId)
    .where('expires_at', '<', a.now)
    .execute();
  const inserted = await tx
    .insertInto('oauth_assertions')
    .values({ domain_id: a.domainId, client_id: a.clientId, jti: a.jti, expires_at: a.expiresAt })
    .onConflict((oc) => oc.columns(['client_id', 'jti']).doNothing())
    .returning('jti')
    .executeTakeFirst();
  return inserted !== undefined;
}
