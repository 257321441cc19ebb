// Authorization codes, each in its own domain's scope: inserted by the domain's authorization endpoint
// and taken at its token endpoint, where another domain's code is simply not there (row-level security).
import type { DomainTx } from '../store.js';
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
  readonly at: Date;
  readonly expiresAt: Date;
}

export async function insertOAuthCode(tx: DomainTx, c: NewOAuthCode): Promise<void> {
  await tx
    .insertInto('oauth_codes')
    .values({
      code_hash: c.hash,
      domain_id: c.domainId,
      client_id: c.clientId,
      principal_id: c.principalId,
      redirect_uri: c.redirectUri,
      code_challenge: c.codeChallenge,
      scope: c.scope,
      nonce: c.nonce,
      auth_time: c.authTime,
      created_at: c.at,
      expires_at: c.expiresAt,
      used_at: null,
      session_id: null,
    })
    .execute();
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

/** Marks a code spent, with the session its tokens open (null when it opened none). */
export async function spendOAuthCode(
  tx: DomainTx,
  domainId: string,
  hash: string,
  at: Date,
  sessionId: string | null,
): Promise<void> {
  await tx
    .updateTable('oauth_codes')
    .set({ used_at: at, session_id: sessionId })
    .where('domain_id', '=', domainId)
    .where('code_hash', '=', hash)
    .execute();
}

/** When the domain's session began (the `auth_time` of what it signs in); undefined when none. */
export async function sessionStartedAt(
  tx: DomainTx,
  domainId: string,
  sessionId: string,
): Promise<Date | undefined> {
  const row = await tx
    .selectFrom('sessions')
    .select('created_at')
    .where('id', '=', sessionId)
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
  return row?.created_at;
}
