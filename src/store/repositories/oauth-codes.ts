// Authorization codes, each in its own domain's scope: inserted by the domain's authorization endpoint
// and taken at its token endpoint, where another domain's code is simply not there (row-level security).
import type { DomainQueries, DomainTx } from '../store.js';
import type { OAuthCodeRow } from '../schema.js';

export interface NewOAuthCode {
  readonly hash: string;
  readonly domainId: string;
  readonly clientId: string;
  readonly principalId: string;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly scope: string;
  readonly nonce: string | null;
  readonly authTime: Date;
  /** The browser session that signed the person in for this code (the issuer's or the portal's). */
  readonly browserSessionId: string;
  readonly at: Date;
  readonly expiresAt: Date;
}

/** The statement (for `Store.change`) that inserts a new, unspent code. */
export function insertOAuthCodeStatement(tx: DomainTx, c: NewOAuthCode) {
  return tx.insertInto('oauth_codes').values({
    code_hash: c.hash,
    domain_id: c.domainId,
    client_id: c.clientId,
    principal_id: c.principalId,
    redirect_uri: c.redirectUri,
    code_challenge: c.codeChallenge,
    scope: c.scope,
    nonce: c.nonce,
    auth_time: c.authTime,
    browser_session_id: c.browserSessionId,
    created_at: c.at,
    expires_at: c.expiresAt,
    used_at: null,
    session_id: null,
  });
}

/** The domain's code with this hash, locked until the transaction ends; undefined when none. */
export function lockOAuthCode(
  tx: DomainTx,
  domainId: string,
  hash: string,
): Promise<OAuthCodeRow | undefined> {
  return tx
    .selectFrom('oauth_codes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('code_hash', '=', hash)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * The statement that marks a code spent, with the session its tokens open (null when it opened none), to
 * run or to leave for the commit.
 */
export function spendOAuthCodeStatement(
  tx: DomainTx,
  domainId: string,
  hash: string,
  at: Date,
  sessionId: string | null,
) {
  return tx
    .updateTable('oauth_codes')
    .set({ used_at: at, session_id: sessionId })
    .where('domain_id', '=', domainId)
    .where('code_hash', '=', hash);
}

/**
 * The statement (for `Store.read`) of when the domain's session began (the `auth_time` of what it signs
 * in): no row when there is none.
 */
export function sessionStartedAtStatement(db: DomainQueries, domainId: string, sessionId: string) {
  return db
    .selectFrom('sessions')
    .select('created_at')
    .where('id', '=', sessionId)
    .where('domain_id', '=', domainId);
}
