// Access tokens: EdDSA JWTs in the RFC 9068 profile, signed with the domain's own key. Verification pins
// the algorithm, `typ`, issuer and the domain's audience, refuses `jku`/`x5u`/`jwk`/`crit` headers, finds
// the key by `kid` among the published keys of active domains only, and then checks the session, so a
// revoked session, a disabled principal or a suspended domain refuses its tokens at the next request.
import { createPublicKey, randomBytes, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import {
  audienceOf,
  clockToleranceSeconds,
  forbiddenHeaders,
  isCanonicalPart,
  kidShape,
  maxTokenLength,
  requiredClaims,
  tokenAgeGraceSeconds,
  tokenAlgorithm,
  tokenType,
} from '@bulkhead/sdk/profile';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { isId, newId } from '../domain/ids.js';
import { BulkheadError } from '../errors.js';
import { keyedHash } from '../keys/hash.js';
import { openCheckedSession } from './principals.js';
import { endSession } from './sessions.js';
import { recordRevocation, revocationFromNotice, revocationNotifyChannel } from './revocations.js';
import type { Actor, Principal } from '../policy/principal.js';
import {
  insertRefreshToken,
  insertRefreshTokenStatement,
  insertSessionStatement,
  liveSession,
  refreshTokenSession,
  revokeSession,
  sessionOwner,
  spendRefreshToken,
} from '../store/repositories/sessions.js';
import { publishedKeyWithSessionStatement } from '../store/repositories/signing-keys.js';
import type { PrincipalRole, PrincipalRow } from '../store/schema.js';
import { NoticeWatch } from '../store/notice-watch.js';
import { deferOrRun, deferToCommit, type DomainTx, type Store } from '../store/store.js';
import type { Issuers } from './oidc/issuers.js';
import type { SigningKey, SigningKeys } from './signing-keys.js';

export interface TokenOptions {
  readonly store: Store;
  /** The server secret: refresh tokens are stored as keyed hashes under it. */
  readonly secret: Buffer;
  readonly signingKeys: SigningKeys;
  /** The `iss` of each domain's tokens: its issuer URL, or the installation's one issuer. */
  readonly issuers: Issuers;
  readonly accessTokenSeconds: number;
  /** How long a session (and so a chain of tokens) may live at most. */
  readonly sessionSeconds: number;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token?: string;
}

/** An active token, as introspection (RFC 7662) describes it. */
export interface IntrospectedToken {
  readonly active: true;
  readonly token_type: 'Bearer';
  readonly sub: string;
  readonly client_id: string;
  readonly iss: string;
  readonly aud: string;
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  readonly sid: string;
  readonly dom: string;
}

const refreshPrefix = 'bhr_';

export type TokenPrincipal = Principal & { kind: 'access_token' };

// The token profile (algorithm, `typ`, forbidden headers, required claims, clock tolerance, audience,
// canonical base64url) is the SDK's, so what Bulkhead signs and what every verifier accepts are one text.
export { audienceOf };

/** How many verified tokens a process remembers. */
const verifiedCacheSize = 10_000;

/** A registered client's id (`bho_…`), kept with its refresh tokens; null for the installation's own. */
const registeredClient = (clientId: string): string | null => (clientId.startsWith('bho_') ? clientId : null);

export class TokenService {
  private readonly keys = new Map<string, { domainId: string; key: KeyObject }>();
  // Tokens verified before, by their whole text, so one presented again costs neither a signature check
  // nor a round trip. An entry lasts until its token or its session expires, and only while this process
  // hears every revocation: the store hands this process's own to it at their commit, and the other
  // processes' arrive as the database's notifications. Any revocation empties the cache, and so does
  // losing the notifications (the cache stays off until they arrive again). `generation` counts the
  // emptyings, so a verification that read the session before one does not put its answer back.
  private readonly verified = new Map<string, { principal: TokenPrincipal; until: number }>();
  private generation = 0;
  private readonly revocations: NoticeWatch<number>;

  constructor(private readonly o: TokenOptions) {
    this.revocations = new NoticeWatch({
      store: o.store,
      channel: revocationNotifyChannel,
      idOf: (payload) => revocationFromNotice(payload)?.seq ?? null,
      forget: () => this.forget(),
    });
  }

  private forget(): void {
    this.generation++;
    this.verified.clear();
  }

  /** Stops listening for revocations. */
  async close(): Promise<void> {
    await this.revocations.close();
  }

  /**
   * Opens a session for the principal and signs its first access token; with `refresh`, also its first
   * refresh token (user logins get one; service accounts ask again with their secret). `principal` is the
   * row its secret was checked against: if the secret or the status changed since, `invalid_grant` (a
   * user) or `invalid_client` (a service). `issuer`: the `iss` of the issuer whose endpoint was called
   * (the domain's path issuer when unnamed).
   */
  async issue(
    actor: Actor,
    principal: PrincipalRow,
    clientId: string,
    options: { readonly refresh?: boolean; readonly sessionId?: string; readonly issuer?: string } = {},
  ): Promise<TokenResponse> {
    const { refresh = false, sessionId = newId('session'), issuer } = options;
    const now = new Date();
    const refreshToken = refresh ? this.newRefreshToken() : undefined;
    // Which key signs is read while the session opens, on another connection, not after it.
    const key = this.o.signingKeys.current(principal.domain_id);
    key.catch(() => undefined);
    await this.o.store.withDomain(principal.domain_id, async (tx) => {
      const waits = await openCheckedSession(tx, principal, {
        id: sessionId,
        at: now,
        seconds: this.o.sessionSeconds,
        refusal: principal.kind === 'user' ? 'invalid_grant' : 'invalid_client',
      });
      await this.withSession(tx, waits, { actor, principal, clientId, sessionId, refreshToken, now });
    });
    const access = await this.sign(principal.domain_id, principal.id, sessionId, clientId, await key, issuer);
    return refreshToken === undefined ? access : { ...access, refresh_token: refreshToken };
  }

  /**
   * Opens a session in the caller's transaction for a principal the caller has locked there and found
   * active (the person an authorization code names), with its refresh token when `refresh` and its audit
   * event, all left for the commit when they can be. Answers the refresh token, to hand out with
   * `accessToken` once the transaction has committed.
   */
  async openSessionIn(
    tx: DomainTx,
    s: {
      actor: Actor;
      principal: PrincipalRow;
      clientId: string;
      sessionId: string;
      /** The browser session that authorized it, which RP-initiated logout ends too. */
      browserSessionId: string | null;
      refresh: boolean;
      now: Date;
    },
  ): Promise<string | undefined> {
    const refreshToken = s.refresh ? this.newRefreshToken() : undefined;
    const waits = await deferOrRun(
      tx,
      insertSessionStatement(tx, {
        id: s.sessionId,
        domainId: s.principal.domain_id,
        principalId: s.principal.id,
        at: s.now,
        expiresAt: new Date(s.now.getTime() + this.o.sessionSeconds * 1000),
        browserSessionId: s.browserSessionId,
      }),
    );
    await this.withSession(tx, waits, { ...s, refreshToken });
    return refreshToken;
  }

  /** What a new session's row brings along: its refresh token, after it, and the audit event. */
  private async withSession(
    tx: DomainTx,
    sessionWaits: boolean,
    s: {
      actor: Actor;
      principal: PrincipalRow;
      clientId: string;
      sessionId: string;
      refreshToken: string | undefined;
      now: Date;
    },
  ): Promise<void> {
    if (s.refreshToken !== undefined) {
      const insert = insertRefreshTokenStatement(tx, {
        hash: keyedHash(this.o.secret, s.refreshToken),
        sessionId: s.sessionId,
        domainId: s.principal.domain_id,
        at: s.now,
        clientId: registeredClient(s.clientId),
      });
      // The token's row refers to the session's, so it waits for the commit if that one does.
      if (!sessionWaits) await insert.execute();
      else if (!deferToCommit(tx, insert.compile()))
        throw new Error('a refresh token could not follow its session to the commit');
    }
    await appendAudit(
      tx,
      succeeded(s.actor, s.principal.domain_id, 'token.issue', s.principal.id, {
        sessionId: s.sessionId,
        clientId: s.clientId,
      }),
    );
  }

  /**
   * The access token of a session that has committed, for `clientId`; signed with `key` when the caller
   * has read the domain's current signing key already.
   */
  accessToken(
    session: { domainId: string; principalId: string; sessionId: string; clientId: string; issuer?: string },
    key?: SigningKey,
  ): Promise<TokenResponse> {
    const { domainId, principalId, sessionId, clientId, issuer } = session;
    return this.sign(domainId, principalId, sessionId, clientId, key, issuer);
  }

  private newRefreshToken(): string {
    return `${refreshPrefix}${randomBytes(32).toString('base64url')}`;
  }

  private async sign(
    domainId: string,
    subject: string,
    sessionId: string,
    clientId: string,
    key?: SigningKey,
    issuer?: string,
  ): Promise<TokenResponse> {
    const principal = { domain_id: domainId, id: subject };
    const { kid, privateKey } = key ?? (await this.o.signingKeys.current(principal.domain_id));
    const iss = issuer ?? (await this.o.issuers.forDomain(principal.domain_id));
    const token = await new SignJWT({ dom: principal.domain_id, sid: sessionId, client_id: clientId })
      .setProtectedHeader({ alg: tokenAlgorithm, typ: tokenType, kid })
      .setIssuer(iss)
      .setSubject(principal.id)
      .setAudience(audienceOf(principal.domain_id))
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.o.accessTokenSeconds}s`)
      .sign(privateKey);
    return { access_token: token, token_type: 'Bearer', expires_in: this.o.accessTokenSeconds };
  }

  /**
   * Spends a refresh token for a new access token and a new refresh token in the same session. Each
   * refresh token works once: of parallel refreshes exactly one wins, and presenting a spent one again
   * revokes the whole session (a stolen token was used), with every token issued under it. With
   * `domainId` (a domain's own token endpoint), a refresh token of another domain is `invalid_grant` and
   * nothing changes: it is neither spent nor taken for a theft. A refresh token issued to a registered
   * client (the authorization code flow's) is that client's alone: `clientId` is the client that
   * presents it (authenticated, or a public client naming itself), null for none; any other presenter
   * is `invalid_grant` and nothing changes either. Its access tokens carry that client's id, and
   * `issuer` (the issuer whose endpoint was called; the domain's path issuer when unnamed).
   */
  async refresh(
    requestId: string | null,
    presented: string,
    domainId?: string,
    clientId: string | null = null,
    issuer?: string,
  ): Promise<TokenResponse> {
    const invalid = () => new BulkheadError('invalid_grant');
    if (!presented.startsWith(refreshPrefix) || presented.length > 100) throw invalid();
    const hash = keyedHash(this.o.secret, presented);
    const next = this.newRefreshToken();
    // A refresh token names no domain: finding its session is the system context's.
    const outcome = await this.o.store.system('authenticate', async (tx) => {
      const now = new Date();
      const owner = await refreshTokenSession(tx, hash);
      if (domainId !== undefined && owner?.domain_id !== domainId) return { ok: false as const };
      if (owner !== undefined && owner.client_id !== clientId) return { ok: false as const };
      const spent = await spendRefreshToken(tx, hash, now);
      if (spent === undefined) {
        const reused = await refreshTokenSession(tx, hash);
        if (reused === undefined) return { ok: false as const };
        const session = await revokeSession(tx, reused.session_id, 'refresh token reused', now);
        if (session !== undefined)
          await recordRevocation(this.o.store, tx, 'session', reused.session_id, session.domain_id);
        const row = session ?? (await sessionOwner(tx, reused.session_id));
        await appendAudit(tx, {
          actor: 'anonymous',
          requestId,
          domainId: row.domain_id,
          action: 'token.refresh_reuse',
          target: reused.session_id,
          outcome: 'denied',
          detail: { principalId: row.principal_id, sessionRevoked: session !== undefined },
        });
        return { ok: false as const };
      }
      const session = await liveSession(tx, spent, now);
      if (session === undefined) return { ok: false as const };
      await insertRefreshToken(tx, {
        hash: keyedHash(this.o.secret, next),
        sessionId: session.id,
        domainId: session.domain_id,
        at: now,
        clientId: owner?.client_id ?? null,
      });
      await appendAudit(tx, {
        actor: `principal:${session.principal_id}`,
        requestId,
        domainId: session.domain_id,
        action: 'token.refresh',
        target: session.id,
        outcome: 'success',
        detail: {},
      });
      return { ok: true as const, session, clientId: owner?.client_id ?? null };
    });
    if (!outcome.ok) throw invalid();
    const access = await this.sign(
      outcome.session.domain_id,
      outcome.session.principal_id,
      outcome.session.id,
      outcome.clientId ?? 'bulkhead',
      undefined,
      issuer,
    );
    return { ...access, refresh_token: next };
  }

  /**
   * RFC 7009: revokes the session behind a refresh token or an access token. Unknown or malformed
   * tokens are not an error, so the answer reveals nothing. With `domainId` (a domain's own revocation
   * endpoint), a token of another domain is left alone, as an unknown one.
   */
  async revoke(requestId: string | null, presented: string, domainId?: string): Promise<void> {
    let session: { id: string; domainId: string } | undefined;
    if (presented.startsWith(refreshPrefix)) {
      const row = await this.o.store.system('authenticate', (tx) =>
        refreshTokenSession(tx, keyedHash(this.o.secret, presented)),
      );
      if (row !== undefined) session = { id: row.session_id, domainId: row.domain_id };
    } else {
      try {
        const verified = await this.verify(presented);
        session = { id: verified.sessionId, domainId: verified.domainId };
      } catch {
        session = undefined;
      }
    }
    if (session !== undefined && (domainId === undefined || session.domainId === domainId))
      await this.revokeSession(
        { actor: 'token-holder', requestId },
        session.id,
        'revoked by its holder',
        session.domainId,
      );
  }

  /**
   * RFC 7662: what a resource server may know of an access token presented to a domain's introspection
   * endpoint, or null (`active: false`) for anything that does not verify, a refresh token, and any token
   * of another domain.
   */
  async introspect(presented: string, domainId: string): Promise<IntrospectedToken | null> {
    if (presented.startsWith(refreshPrefix)) return null;
    let principal: TokenPrincipal;
    try {
      principal = await this.verify(presented);
    } catch {
      return null;
    }
    if (principal.domainId !== domainId) return null;
    // Verified above: the claims are the signed ones.
    const claims = decodeJwt(presented);
    return {
      active: true,
      token_type: 'Bearer',
      sub: principal.subject,
      client_id: typeof claims['client_id'] === 'string' ? claims['client_id'] : 'bulkhead',
      iss: String(claims.iss),
      aud: audienceOf(domainId),
      exp: Number(claims.exp),
      iat: Number(claims.iat),
      jti: String(claims.jti),
      sid: principal.sessionId,
      dom: domainId,
    };
  }

  /** Revokes a session: its access tokens are refused from the next request on. */
  async revokeSession(actor: Actor, sessionId: string, reason: string, domainId: string): Promise<boolean> {
    return endSession(this.o.store, actor, domainId, sessionId, reason, {
      action: 'session.revoke',
      detail: { reason },
    });
  }

  /**
   * In one statement: the public key under `kid` if it is still published for an active domain, and
   * whether the session the token names is live for that domain and principal (with its end). The token's
   * claims are only query parameters here; nothing counts until its signature has been checked with that
   * key.
   */
  private async keyAndSession(
    domainId: string,
    kid: string,
    sessionId: string,
    subject: string,
  ): Promise<{
    domainId: string;
    slug: string;
    key: KeyObject;
    session: { id: string; slug: string; expiresAt: number; role: PrincipalRole } | null;
  } | null> {
    const now = new Date();
    const [[row]] = await this.o.store.read(domainId, (db) => [
      publishedKeyWithSessionStatement(db, kid, sessionId, subject, now),
    ]);
    if (row === undefined) return null;
    // The cache only saves parsing; whether the key is still published is asked above every time.
    let cached = this.keys.get(kid);
    if (cached === undefined) {
      cached = {
        domainId: row.domain_id,
        key: createPublicKey({ key: row.public_jwk as JsonWebKey, format: 'jwk' }),
      };
      this.keys.set(kid, cached);
    }
    const live = row.session_id !== null && row.principal_id !== null && row.session_expires_at !== null;
    return {
      ...cached,
      slug: row.slug,
      session: live
        ? {
            id: row.session_id!,
            slug: row.slug,
            expiresAt: row.session_expires_at!.getTime(),
            role: row.role!,
          }
        : null,
    };
  }

  /** The principal an access token stands for; `invalid_credentials` for anything wrong, whatever it is. */
  async verify(token: string): Promise<TokenPrincipal> {
    if (this.revocations.hearing) {
      const hit = this.verified.get(token);
      if (hit !== undefined) {
        if (hit.until > Date.now()) return hit.principal;
        this.verified.delete(token);
      }
    } else {
      this.revocations.start();
    }
    const generation = this.generation;
    const { principal, until } = await this.verifyUncached(token);
    if (this.revocations.hearing && generation === this.generation && until > Date.now()) {
      if (this.verified.size >= verifiedCacheSize) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal, until });
    }
    return principal;
  }

  private async verifyUncached(token: string): Promise<{ principal: TokenPrincipal; until: number }> {
    const refuse = (): never => {
      throw new BulkheadError('invalid_credentials');
    };
    const parts = token.split('.');
    if (token.length > maxTokenLength || parts.length !== 3 || !parts.every(isCanonicalPart)) return refuse();
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse();
    }
    if (header['alg'] !== tokenAlgorithm || header['typ'] !== tokenType) return refuse();
    if (forbiddenHeaders.some((h) => h in header)) return refuse();
    const kid = header['kid'];
    if (typeof kid !== 'string' || !kidShape.test(kid)) return refuse();
    // The claimed domain only scopes the lookup: its key is found in its own domain's rows, and the
    // signature, audience and `dom` are checked against that key's domain below.
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(token);
    } catch {
      return refuse();
    }
    const { dom: claimed, sid, sub } = claims;
    if (typeof claimed !== 'string' || !isId('domain', claimed)) return refuse();
    // Checked for their form before they are used as query parameters.
    if (
      typeof sid !== 'string' ||
      !isId('session', sid) ||
      typeof sub !== 'string' ||
      !isId('principal', sub)
    )
      return refuse();
    const found = await this.keyAndSession(claimed, kid, sid, sub);
    if (found === null) return refuse();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, found.key, {
        algorithms: [tokenAlgorithm],
        typ: tokenType,
        issuer: await this.o.issuers.acceptedFor(found.slug, found.domainId, claims.iss),
        audience: audienceOf(found.domainId),
        requiredClaims: [...requiredClaims],
        maxTokenAge: `${this.o.accessTokenSeconds + tokenAgeGraceSeconds}s`,
        clockTolerance: clockToleranceSeconds,
      }));
    } catch {
      return refuse();
    }
    const { iat, exp, jti } = payload;
    if (
      payload['dom'] !== found.domainId ||
      typeof iat !== 'number' ||
      iat > Date.now() / 1000 + clockToleranceSeconds
    )
      return refuse();
    // jose's requiredClaims only asks that the claim is there: `"jti": null` would pass it.
    if (typeof jti !== 'string' || jti === '') return refuse();
    // The session looked up is the one the signed token names.
    const session = payload['sid'] === sid && payload['sub'] === sub ? found.session : null;
    if (session === null || typeof exp !== 'number') return refuse();
    return {
      principal: {
        kind: 'access_token',
        actor: `principal:${String(payload['sub'])}`,
        domainId: found.domainId,
        domainSlug: session.slug,
        subject: String(payload['sub']),
        sessionId: session.id,
        role: session.role,
      },
      until: Math.min(exp * 1000, session.expiresAt),
    };
  }
}
