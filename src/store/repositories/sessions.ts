// Sessions and their refresh tokens. A session is found by its cookie or by a refresh token, neither of
// which names a domain, so those lookups take a `SystemTx` (or the system read's builder); opening and
// ending one in its own domain takes a `DomainTx`. Every revocation here answers what it revoked, for
// the caller to record in the revocation feed in the same transaction.
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { DomainQueries, DomainTx, SystemQueries, SystemTx, Tx } from '../store.js';

/** What the revocation of one session answers: its domain and principal. */
export interface RevokedSession {
  readonly domain_id: string;
  readonly principal_id: string;
}

/**
 * Opens a session until `expiresAt`; a browser session also records its cookie's keyed hash and its idle
 * timeout.
 */
export interface NewSession {
  readonly id: string;
  readonly domainId: string;
  readonly principalId: string;
  readonly at: Date;
  readonly expiresAt: Date;
  readonly cookie?: { hash: string; idleUntil: Date; portalHost?: string | undefined };
  /** A token session's: the browser session that authorized it. */
  readonly browserSessionId?: string | null;
}

export async function insertSession(tx: DomainTx, s: NewSession): Promise<void> {
  await insertSessionStatement(tx, s).execute();
}

/** The statement that inserts a new session (to run, or to leave for the commit). */
export function insertSessionStatement(tx: DomainTx, s: NewSession) {
  return tx.insertInto('sessions').values({
    id: s.id,
    domain_id: s.domainId,
    principal_id: s.principalId,
    created_at: s.at,
    expires_at: s.expiresAt,
    browser_session_id: s.browserSessionId ?? null,
    ...(s.cookie === undefined
      ? {}
      : {
          cookie_hash: s.cookie.hash,
          last_seen_at: s.at,
          idle_until: s.cookie.idleUntil,
          portal_host: s.cookie.portalHost ?? null,
        }),
  });
}

/**
 * The statement (for `Store.systemRead`) that finds the live browser session behind a cookie's keyed
 * hash at `now`, with its active principal's role and its active domain's slug.
 */
export function sessionByCookieStatement(db: SystemQueries, cookieHash: string, now: Date) {
  return liveSessionByCookie(db, cookieHash, now);
}

/**
 * `sessionByCookieStatement` in one domain's own read (`Store.read`): the session only if it is of
 * `domainId`. The same row, so the same checks of the session, its principal and its domain.
 */
export function domainSessionByCookieStatement(
  db: DomainQueries,
  domainId: string,
  cookieHash: string,
  now: Date,
) {
  return liveSessionByCookie(db, cookieHash, now).where('sessions.domain_id', '=', domainId);
}

function liveSessionByCookie(db: Kysely<Database>, cookieHash: string, now: Date) {
  return liveSessions(db, now)
    .select([
      'sessions.id',
      'sessions.domain_id',
      'sessions.principal_id',
      'domains.slug',
      'principals.role',
      'sessions.last_seen_at',
      'sessions.portal_host',
    ])
    .where('sessions.cookie_hash', '=', cookieHash)
    .where('sessions.idle_until', '>', now);
}

/**
 * The sessions live at `now` (neither revoked nor expired) of an active principal in an active domain,
 * joined with their principal and their domain.
 */
function liveSessions(db: Kysely<Database>, now: Date) {
  return db
    .selectFrom('sessions')
    .innerJoin('principals', 'principals.id', 'sessions.principal_id')
    .innerJoin('domains', 'domains.id', 'sessions.domain_id')
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', now)
    .where('principals.status', '=', 'active')
    .where('domains.status', '=', 'active');
}

/**
 * Moves a browser session's idle timeout to `idleUntil`, only while it is still live at `now`; false when
 * it was not.
 */
export async function moveSessionIdle(
  tx: SystemTx,
  sessionId: string,
  now: Date,
  idleUntil: Date,
): Promise<boolean> {
  const moved = await tx
    .updateTable('sessions')
    .set({ last_seen_at: now, idle_until: idleUntil })
    .where('id', '=', sessionId)
    .where('revoked_at', 'is', null)
    .where('idle_until', '>', now)
    .returning('id')
    .executeTakeFirst();
  return moved !== undefined;
}

/**
 * Revokes a session not revoked yet (with `domainId`, only that domain's); undefined when there was no
 * such session to revoke.
 */
export function revokeSession(
  tx: Tx,
  sessionId: string,
  reason: string,
  at: Date,
  domainId?: string,
): Promise<RevokedSession | undefined> {
  let q = tx
    .updateTable('sessions')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('id', '=', sessionId);
  if (domainId !== undefined) q = q.where('domain_id', '=', domainId);
  return q.where('revoked_at', 'is', null).returning(['domain_id', 'principal_id']).executeTakeFirst();
}

/** The revocation of a principal's sessions not revoked yet, for the caller to narrow and run. */
function revokingPrincipalSessions(tx: DomainTx, principalId: string, reason: string, at: Date) {
  return tx
    .updateTable('sessions')
    .set({ revoked_at: at, revoke_reason: reason })
    .where('principal_id', '=', principalId)
    .where('revoked_at', 'is', null);
}

/** Revokes every session of a principal not revoked yet. */
export async function revokePrincipalSessions(
  tx: DomainTx,
  principalId: string,
  reason: string,
  at: Date,
): Promise<void> {
  await revokingPrincipalSessions(tx, principalId, reason, at).execute();
}

/** A principal's sessions live at `now`, newest first (at most 100). */
export function livePrincipalSessions(tx: DomainTx, principalId: string, now: Date) {
  return tx
    .selectFrom('sessions')
    .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'portal_host', 'cookie_hash'])
    .where('principal_id', '=', principalId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .limit(100)
    .execute();
}

/** Revokes every session of a principal still live at `at`; answers their ids. */
export async function revokeLivePrincipalSessions(
  tx: DomainTx,
  principalId: string,
  reason: string,
  at: Date,
): Promise<string[]> {
  const ended = await revokingPrincipalSessions(tx, principalId, reason, at)
    .where('expires_at', '>', at)
    .returning('id')
    .execute();
  return ended.map((s) => s.id);
}

/**
 * The browser session that authorized the domain's token session `tokenSessionId` (migration 0034), if it
 * is still live at `now` and both are `principalId`'s in `domainId`; undefined otherwise. Only a browser
 * session (one with a cookie) is ever named.
 */
export function authorizingBrowserSession(
  tx: DomainTx,
  s: { domainId: string; principalId: string; tokenSessionId: string; now: Date },
): Promise<{ id: string } | undefined> {
  return tx
    .selectFrom('sessions as token')
    .innerJoin('sessions as browser', 'browser.id', 'token.browser_session_id')
    .select('browser.id')
    .where('token.id', '=', s.tokenSessionId)
    .where('token.domain_id', '=', s.domainId)
    .where('token.principal_id', '=', s.principalId)
    .where('browser.domain_id', '=', s.domainId)
    .where('browser.principal_id', '=', s.principalId)
    .where('browser.cookie_hash', 'is not', null)
    .where('browser.revoked_at', 'is', null)
    .where('browser.expires_at', '>', s.now)
    .executeTakeFirst();
}

/** A session's domain and principal, whatever its state. */
export function sessionOwner(tx: SystemTx, sessionId: string): Promise<RevokedSession> {
  return tx
    .selectFrom('sessions')
    .select(['domain_id', 'principal_id'])
    .where('id', '=', sessionId)
    .executeTakeFirstOrThrow();
}

/** The session if it is live at `now`, its principal and its domain active. */
export function liveSession(
  tx: SystemTx,
  sessionId: string,
  now: Date,
): Promise<{ id: string; domain_id: string; principal_id: string } | undefined> {
  return liveSessions(tx, now)
    .select(['sessions.id', 'sessions.domain_id', 'sessions.principal_id'])
    .where('sessions.id', '=', sessionId)
    .executeTakeFirst();
}

/** Records a refresh token of a session by its keyed hash. */
export async function insertRefreshToken(
  tx: Tx,
  t: { hash: string; sessionId: string; domainId: string; at: Date; clientId?: string | null },
): Promise<void> {
  await insertRefreshTokenStatement(tx, t).execute();
}

/** The statement that inserts a new refresh token (to run, or to leave for the commit). */
export function insertRefreshTokenStatement(
  tx: Tx,
  t: { hash: string; sessionId: string; domainId: string; at: Date; clientId?: string | null },
) {
  return tx.insertInto('refresh_tokens').values({
    hash: t.hash,
    session_id: t.sessionId,
    domain_id: t.domainId,
    created_at: t.at,
    client_id: t.clientId ?? null,
  });
}

/**
 * Spends the refresh token with this hash if it was not spent yet, in one statement (of parallel spends
 * exactly one wins); answers its session, or undefined when nothing was spent.
 */
export async function spendRefreshToken(tx: SystemTx, hash: string, at: Date): Promise<string | undefined> {
  const spent = await tx
    .updateTable('refresh_tokens')
    .set({ used_at: at })
    .where('hash', '=', hash)
    .where('used_at', 'is', null)
    .returning('session_id')
    .executeTakeFirst();
  return spent?.session_id;
}

/** The session (and its domain) of the refresh token with this hash, spent or not. */
export function refreshTokenSession(
  tx: SystemTx,
  hash: string,
): Promise<{ session_id: string; domain_id: string; client_id: string | null } | undefined> {
  return tx
    .selectFrom('refresh_tokens')
    .select(['session_id', 'domain_id', 'client_id'])
    .where('hash', '=', hash)
    .executeTakeFirst();
}
