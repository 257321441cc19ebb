// The authorization code flow of a domain's OpenID Provider (RFC 6749 §4.1 with PKCE, RFC 7636, as
// OAuth 2.1 and RFC 9700 want it): a code is 256 random bits, kept only as its SHA-256 in its domain's
// rows, bound to one client, one redirect URI and one S256 challenge, valid for a minute, and spent at its
// first presentation whatever the outcome. A code presented again ends the session its tokens opened
// (RFC 6749 §4.1.2: the tokens issued on it are revoked). ID tokens are signed with the domain's own key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { newId } from '../../domain/ids.js';
import { BulkheadError } from '../../errors.js';
import {
  insertOAuthCodeStatement,
  type NewOAuthCode,
  lockOAuthCode,
  sessionStartedAtStatement,
  spendOAuthCodeStatement,
} from '../../store/repositories/oauth-codes.js';
import { findActivePrincipal, lockLivePrincipal } from '../../store/repositories/principals.js';
import type { OAuthClientRow, PrincipalRow } from '../../store/schema.js';
import { deferOrRun, type Store } from '../../store/store.js';
import type { SigningKey, SigningKeys } from '../signing-keys.js';
import type { TokenResponse, TokenService } from '../tokens.js';

/** How long a code may wait for its exchange (RFC 6749 §4.1.2 recommends at most ten minutes). */
export const codeSeconds = 60;
const codePrefix = 'bhc_';
const verifierShape = /^[A-Za-z0-9._~-]{43,128}$/;
export const challengeShape = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => createHash('sha256').update(text, 'ascii').digest();
const hashOf = (code: string) => sha256(code).toString('hex');

/** The S256 challenge of a verifier (RFC 7636 §4.2). */
export function s256(verifier: string): string {
  return sha256(verifier).toString('base64url');
}

/** What a code grants: everything its row keeps but its hash and its times. */
export type CodeGrant = Omit<NewOAuthCode, 'hash' | 'at' | 'expiresAt'>;

export interface CodeTokens extends TokenResponse {
  readonly id_token?: string;
  readonly scope: string;
}

export interface CodeDeps {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly signingKeys: SigningKeys;
}

export class AuthorizationCodes {
  constructor(private readonly deps: CodeDeps) {}

  /** A new code for this grant (shown once, to the redirect URI). */
  async issue(grant: CodeGrant): Promise<string> {
    const code = `${codePrefix}${randomBytes(32).toString('base64url')}`;
    const now = new Date();
    await this.deps.store.change(grant.domainId, (tx) => [
      insertOAuthCodeStatement(tx, {
        hash: hashOf(code),
        domainId: grant.domainId,
        clientId: grant.clientId,
        principalId: grant.principalId,
        redirectUri: grant.redirectUri,
        codeChallenge: grant.codeChallenge,
        scope: grant.scope,
        nonce: grant.nonce,
        authTime: grant.authTime,
        browserSessionId: grant.browserSessionId,
        at: now,
        expiresAt: new Date(now.getTime() + codeSeconds * 1000),
      }),
    ]);
    return code;
  }

  /**
   * Exchanges a code at the token endpoint of `issuer` (domain `domainId`) for the client that
   * authenticated: `invalid_grant` for a code of another domain or client, another redirect URI, a
   * verifier that does not match, an expired or spent code. A spent code ends the session it opened.
   */
  async redeem(input: {
    readonly requestId: string;
    readonly domainId: string;
    readonly issuer: string;
    readonly client: OAuthClientRow;
    readonly code: string;
    readonly redirectUri: string | undefined;
    readonly verifier: string | undefined;
  }): Promise<CodeTokens> {
    const invalid = (message = 'The authorization code is not valid.') =>
      new BulkheadError('invalid_grant', message);
    if (!input.code.startsWith(codePrefix) || input.code.length > 100) throw invalid();
    const hash = hashOf(input.code);
    const now = new Date();
    const withRefresh = input.client.grant_types.includes('refresh_token');
    // The domain's signing key is read while the code is redeemed, on another connection: which key is
    // current is asked at every exchange, but the exchange does not wait for it.
    const key = this.deps.signingKeys.current(input.domainId);
    key.catch(() => undefined);
    // One transaction: the code is spent and, when it is good, the session its tokens belong to opened,
    // with everything it writes left for the commit.
    const outcome = await this.deps.store.withDomain(input.domainId, async (tx) => {
      const row = await lockOAuthCode(tx, input.domainId, hash);
      if (row === undefined) return { kind: 'unknown' as const };
      if (row.used_at !== null) return { kind: 'replayed' as const, sessionId: row.session_id };
      const checks: [boolean, string][] = [
        [row.expires_at.getTime() > now.getTime(), 'The authorization code has expired.'],
        [row.client_id === input.client.client_id, 'The authorization code was issued to another client.'],
        [row.redirect_uri === input.redirectUri, 'redirect_uri is not the one of the authorization request.'],
        [
          input.verifier !== undefined &&
            verifierShape.test(input.verifier) &&
            timingSafeEqual(Buffer.from(s256(input.verifier)), Buffer.from(row.code_challenge)),
          'code_verifier does not match the code challenge.',
        ],
      ];
      const failed = checks.find(([ok]) => !ok);
      const principal =
        failed === undefined ? await lockLivePrincipal(tx, input.domainId, row.principal_id) : undefined;
      const ok = failed === undefined && principal?.status === 'active';
      const sessionId = ok ? newId('session') : null;
      const refreshToken = ok
        ? await this.deps.tokens.openSessionIn(tx, {
            actor: { actor: `principal:${principal.id}`, requestId: input.requestId },
            principal,
            clientId: input.client.client_id,
            sessionId: sessionId!,
            browserSessionId: row.browser_session_id,
            refresh: withRefresh,
            now,
          })
        : undefined;
      // Spent whatever the outcome: a code is presented once. Nothing reads this row before the commit.
      await deferOrRun(tx, spendOAuthCodeStatement(tx, input.domainId, hash, now, sessionId));
      if (!ok) return { kind: 'refused' as const, message: failed?.[1] ?? 'The person is no longer active.' };
      return { kind: 'ok' as const, row, principal: principal, sessionId: sessionId!, refreshToken };
    });
    if (outcome.kind === 'unknown') throw invalid();
    if (outcome.kind === 'refused') throw invalid(outcome.message);
    if (outcome.kind === 'replayed') {
      if (outcome.sessionId !== null)
        await this.deps.tokens.revokeSession(
          { actor: 'anonymous', requestId: input.requestId },
          outcome.sessionId,
          'authorization code reused',
          input.domainId,
        );
      throw invalid('The authorization code was already used; the tokens issued on it are revoked.');
    }
    const { row, principal, sessionId, refreshToken } = outcome;
    const signing = await key;
    const access = await this.deps.tokens.accessToken(
      {
        domainId: input.domainId,
        principalId: principal.id,
        sessionId,
        clientId: input.client.client_id,
        issuer: input.issuer,
      },
      signing,
    );
    const tokens = refreshToken === undefined ? access : { ...access, refresh_token: refreshToken };
    const scopes = row.scope.split(' ');
    if (!scopes.includes('openid')) return { ...tokens, scope: row.scope };
    const idToken = await this.idToken({
      key: signing,
      domainId: input.domainId,
      issuer: input.issuer,
      principal,
      clientId: input.client.client_id,
      sessionId,
      nonce: row.nonce,
      authTime: row.auth_time,
      accessToken: tokens.access_token,
      seconds: tokens.expires_in,
      email: scopes.includes('email'),
    });
    return { ...tokens, id_token: idToken, scope: row.scope };
  }

  /** An ID token (OpenID Connect Core §2), EdDSA with the domain's current key, for the client. */
  private async idToken(c: {
    key: SigningKey;
    domainId: string;
    issuer: string;
    principal: PrincipalRow;
    clientId: string;
    sessionId: string;
    nonce: string | null;
    authTime: Date;
    accessToken: string;
    seconds: number;
    email: boolean;
  }): Promise<string> {
    const { kid, privateKey } = c.key;
    // at_hash: the left half of the SHA-256 of the access token, base64url (Core §3.1.3.6).
    const atHash = sha256(c.accessToken).subarray(0, 16).toString('base64url');
    const claims: JWTPayload = {
      auth_time: Math.floor(c.authTime.getTime() / 1000),
      at_hash: atHash,
      sid: c.sessionId,
      ...(c.nonce === null ? {} : { nonce: c.nonce }),
      ...(c.email && c.principal.email !== null ? { email: c.principal.email } : {}),
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid })
      .setIssuer(c.issuer)
      .setSubject(c.principal.id)
      .setAudience(c.clientId)
      .setIssuedAt()
      .setExpirationTime(`${c.seconds}s`)
      .sign(privateKey);
  }

  /**
   * The claims of an ID token this domain signed for one of its clients (an `id_token_hint`), or null.
   * Its expiry is not held against it (Core RP-Initiated Logout §2): a hint names a session, it grants
   * nothing.
   */
  async idTokenHint(domainId: string, issuer: string, token: string): Promise<JWTPayload | null> {
    try {
      // The keys published so far: a hint is read without making the domain's first keys.
      const published = await this.deps.signingKeys.publishedJwks(domainId);
      if (published.keys.length === 0) return null;
      const jwks = createLocalJWKSet(published);
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        algorithms: ['EdDSA'],
        typ: 'JWT',
        currentDate: new Date(0),
        clockTolerance: Number.MAX_SAFE_INTEGER,
      });
      return typeof payload.sub === 'string' && typeof payload.aud === 'string' ? payload : null;
    } catch {
      return null;
    }
  }

  /** The person behind a userinfo request, as the scopes allow (Core §5.3). */
  async userinfo(domainId: string, principalId: string): Promise<{ sub: string; email?: string } | null> {
    const row = await this.deps.store.withDomain(domainId, (tx) =>
      findActivePrincipal(tx, domainId, principalId),
    );
    if (row === undefined) return null;
    return row.email === null ? { sub: row.id } : { sub: row.id, email: row.email };
  }

  /** When a session of the domain began; now when it cannot be found. */
  async authTime(domainId: string, sessionId: string): Promise<Date> {
    const [[row]] = await this.deps.store.read(domainId, (db) => [
      sessionStartedAtStatement(db, domainId, sessionId),
    ]);
    return row?.created_at ?? new Date();
  }
}
