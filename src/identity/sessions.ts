// Browser sessions: an opaque 256-bit id in a `__Host-` cookie, stored only as a keyed hash, with an
// idle and an absolute timeout. A new id at every login; an id the server did not issue is never
// adopted. Ending a session refuses its cookie at the very next request. A portal session is bound to
// the host it was opened on: only that host accepts its cookie, and the API accepts none of them.
import { randomBytes } from 'node:crypto';
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { keyedHash } from '../keys/hash.js';
import { openCheckedSession } from './principals.js';
import { recordRevocation } from './revocations.js';
import type { Actor, Principal } from '../policy/principal.js';
import {
  authorizingBrowserSession,
  livePrincipalSessions,
  moveSessionIdle,
  revokeLivePrincipalSessions,
  revokeSession,
  sessionByCookieStatement,
} from '../store/repositories/sessions.js';
import type { PrincipalRow } from '../store/schema.js';
import type { Rows, Store } from '../store/store.js';

export const sessionCookie = '__Host-bulkhead_session';
/** The portal's session cookie: another name, so that the API never reads it as its own. */
export const portalCookie = '__Host-bulkhead_portal';
const cookieShape = /^[A-Za-z0-9_-]{43}$/;

export interface SessionOptions {
  readonly store: Store;
  readonly secret: Buffer;
  readonly absoluteSeconds: number;
  readonly idleSeconds: number;
}

export type SessionPrincipal = Principal & { kind: 'session' };

/** A session row as `sessionByCookieStatement` reads it. */
export type PortalCookieRow = Rows<[ReturnType<typeof sessionByCookieStatement>]>[0][number];

export class SessionService {
  constructor(private readonly o: SessionOptions) {}

  /**
   * Opens a browser session for the principal; returns the cookie value to set (shown nowhere else),
   * and when the session began (the person's time of authentication, as every later read of it says).
   * `principal` is the row its password was checked against: if the password or the status changed
   * since, `invalid_grant`.
   */
  async login(
    actor: Actor,
    principal: PrincipalRow,
    portalHost?: string,
  ): Promise<{ cookie: string; sessionId: string; maxAge: number; startedAt: Date }> {
    const cookie = randomBytes(32).toString('base64url');
    const now = new Date();
    const sessionId = newId('session');
    await this.o.store.withDomain(principal.domain_id, async (tx) => {
      await openCheckedSession(tx, principal, {
        id: sessionId,
        at: now,
        seconds: this.o.absoluteSeconds,
        refusal: 'invalid_grant',
        cookie: {
          hash: keyedHash(this.o.secret, cookie),
          idleUntil: new Date(now.getTime() + this.o.idleSeconds * 1000),
          portalHost,
        },
      });
      await appendAudit(
        tx,
        succeeded(
          actor,
          principal.domain_id,
          'session.login',
          principal.id,
          portalHost === undefined ? { sessionId } : { sessionId, portalHost },
        ),
      );
    });
    return { cookie, sessionId, maxAge: this.o.absoluteSeconds, startedAt: now };
  }

  /** The principal behind an API session cookie, or null; a use moves the idle timeout on. */
  async authenticate(cookie: string): Promise<SessionPrincipal | null> {
    const found = await this.find(cookie);
    // A portal session's cookie is the portal's only, on its own host; the API refuses it.
    if (found === null || found.portalHost !== null) return null;
    return this.use(found);
  }

  /**
   * The principal behind a portal cookie presented at `host`, or null. A session opened on another host
   * is `{ elsewhere }`: refused, and left as it is (a copied cookie must not end the real session).
   */
  async authenticatePortal(
    cookie: string,
    host: string,
  ): Promise<SessionPrincipal | { elsewhere: { domainId: string; sessionId: string; host: string } } | null> {
    const found = await this.find(cookie);
    if (found === null || found.portalHost === null) return null;
    if (found.portalHost !== host)
      return {
        elsewhere: { domainId: found.row.domain_id, sessionId: found.row.id, host: found.portalHost },
      };
    return this.use(found);
  }

  /** The keyed hash a portal cookie's session is found by, or null for a value of the wrong shape. */
  portalCookieHash(cookie: string): string | null {
    return cookieShape.test(cookie) ? keyedHash(this.o.secret, cookie) : null;
  }

  /**
   * `authenticatePortal`'s answer for a session row already read (by `sessionByCookieStatement`, in the
   * same message as the host's site) at `now`.
   */
  async authenticatePortalRow(
    row: PortalCookieRow | undefined,
    host: string,
    now: Date,
  ): Promise<SessionPrincipal | { elsewhere: { domainId: string; sessionId: string; host: string } } | null> {
    if (row === undefined || row.portal_host === null) return null;
    if (row.portal_host !== host)
      return { elsewhere: { domainId: row.domain_id, sessionId: row.id, host: row.portal_host } };
    return this.use({ row, now, portalHost: row.portal_host });
  }

  private async find(cookie: string) {
    if (!cookieShape.test(cookie)) return null;
    const now = new Date();
    // The cookie names no domain: finding its session is the system context's, and nothing more. The
    // lookup is a read in one round trip; only a move of the idle clock needs a transaction.
    const [[row]] = await this.o.store.systemRead('authenticate', (db) => [
      sessionByCookieStatement(db, keyedHash(this.o.secret, cookie), now),
    ]);
    if (row === undefined) return null;
    return { row, now, portalHost: row.portal_host };
  }

  private async use({ row, now }: NonNullable<Awaited<ReturnType<SessionService['find']>>>) {
    // The idle window moves on with use, to within a tenth of it (at most a minute): a session used
    // again soon after its last move is not written again, so a busy session's requests only read. The
    // move is made only while the session is still live, so it never revives one ended meanwhile.
    const seen = row.last_seen_at?.getTime() ?? 0;
    if (now.getTime() - seen >= Math.min(60_000, this.o.idleSeconds * 100)) {
      const moved = await this.o.store.system('authenticate', (tx) =>
        moveSessionIdle(tx, row.id, now, new Date(now.getTime() + this.o.idleSeconds * 1000)),
      );
      if (!moved) return null;
    }
    return {
      kind: 'session',
      actor: `principal:${row.principal_id}`,
      domainId: row.domain_id,
      domainSlug: row.slug,
      subject: row.principal_id,
      sessionId: row.id,
      role: row.role,
    } satisfies SessionPrincipal;
  }

  /** The principal's live sessions, newest first. */
  async list(domainId: string, principalId: string) {
    const rows = await this.o.store.withDomain(domainId, (tx) =>
      livePrincipalSessions(tx, principalId, new Date()),
    );
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      expiresAt: r.expires_at,
      portalHost: r.portal_host,
      browser: r.cookie_hash !== null,
    }));
  }

  /** Ends every live session of the principal (this one included); answers how many. */
  async logoutEverywhere(actor: Actor, domainId: string, principalId: string): Promise<number> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const ended = await revokeLivePrincipalSessions(tx, principalId, 'sign out everywhere', new Date());
      for (const id of ended) await recordRevocation(this.o.store, tx, 'session', id, domainId);
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'portal.sign_out_everywhere',
        target: principalId,
        outcome: 'success',
        detail: { sessions: ended.length },
      });
      return ended.length;
    });
  }

  /**
   * A token for a form, bound to what it names (a session id, or a sign-in cookie) under the server
   * secret: a page of another site can neither read nor make one.
   */
  formToken(purpose: string, binding: string): string {
    return keyedHash(this.o.secret, `form\n${purpose}\n${binding}`);
  }

  /** Ends a session at once. */
  async logout(actor: Actor, domainId: string, sessionId: string): Promise<void> {
    await endSession(this.o.store, actor, domainId, sessionId, 'logout', { action: 'session.logout' });
  }

  /**
   * Ends the browser session that authorized the token session `tokenSessionId` (at the issuer or at a
   * portal), as a logout, when it is still live and is `principalId`'s in `domainId`: RP-initiated
   * logout needs no cookie for it. True when one ended.
   */
  async logoutAuthorizing(
    actor: Actor,
    domainId: string,
    principalId: string,
    tokenSessionId: string,
  ): Promise<boolean> {
    const browser = await this.o.store.withDomain(domainId, (tx) =>
      authorizingBrowserSession(tx, { domainId, principalId, tokenSessionId, now: new Date() }),
    );
    if (browser === undefined) return false;
    return endSession(this.o.store, actor, domainId, browser.id, 'logout', {
      action: 'session.logout',
      detail: { tokenSessionId },
    });
  }
}

/** Our cookie's value from a Cookie header, or null; a header with it twice is refused (null). */
export function readSessionCookie(
  header: string | undefined,
  name: string = sessionCookie,
): { value: string } | 'ambiguous' | null {
  if (header === undefined) return null;
  const values = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${name}=`))
    .map((part) => part.slice(name.length + 1));
  if (values.length === 0) return null;
  if (values.length > 1) return 'ambiguous';
  return { value: values[0]! };
}

/**
 * Ends a session of the domain not ended yet, for the very next request here and on every verifier (the
 * revocation feed), and audits `event`. False when there was no such session to end. Logging out and an
 * admin's revocation are the same change with different audit events.
 */
export async function endSession(
  store: Store,
  actor: Actor,
  domainId: string,
  sessionId: string,
  reason: string,
  event: { readonly action: 'session.logout' | 'session.revoke'; readonly detail?: Record<string, unknown> },
): Promise<boolean> {
  return store.withDomain(domainId, async (tx) => {
    const row = await revokeSession(tx, sessionId, reason, new Date(), domainId);
    if (row === undefined) return false;
    await recordRevocation(store, tx, 'session', sessionId, row.domain_id);
    await appendAudit(
      tx,
      succeeded(actor, row.domain_id, event.action, sessionId, {
        principalId: row.principal_id,
        ...event.detail,
      }),
    );
    return true;
  });
}
