// Access tokens: EdDSA JWTs in the RFC 9068 profile, signed with the domain's own key. Verification pins
// the algorithm, `typ`, issuer and the domain's audience, refuses `jku`/`x5u`/`jwk`/`crit` headers, finds
// the key by `kid` among the published keys of active domains only, and then checks the session, so a
// revoked session, a disabled principal or a suspended domain refuses its tokens at the next request.
import { createPublicKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError } from '../errors.js';
import type { Actor, Principal } from '../policy/principal.js';
import type { PrincipalsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Selectable } from 'kysely';
import type { SigningKeys } from './signing-keys.js';

export interface TokenOptions {
  readonly store: Store;
  readonly signingKeys: SigningKeys;
  /** The `iss` of every token, e.g. the server's public URL. */
  readonly issuer: string;
  readonly accessTokenSeconds: number;
  /** How long a session (and so a chain of tokens) may live at most. */
  readonly sessionSeconds: number;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
}

export type TokenPrincipal = Principal & { kind: 'access_token' };

const maxTokenLength = 4096;
const forbiddenHeaders = ['jku', 'x5u', 'x5c', 'jwk', 'crit'];
const kidShape = /^[A-Za-z0-9_-]{43}$/;

/** The audience of a domain's tokens: its id, never its slug, so a re-created slug accepts nothing old. */
export const audienceOf = (domainId: string) => `bulkhead:${domainId}`;

export class TokenService {
  private readonly keys = new Map<string, { domainId: string; key: KeyObject }>();

  constructor(private readonly o: TokenOptions) {}

  /** Opens a session for the principal and signs its first access token. */
  async issue(
    actor: Actor,
    principal: Selectable<PrincipalsTable>,
    clientId: string,
  ): Promise<TokenResponse> {
    const now = new Date();
    const sessionId = newId('session');
    await this.o.store.transaction(async (tx) => {
      await tx
        .insertInto('sessions')
        .values({
          id: sessionId,
          domain_id: principal.domain_id,
          principal_id: principal.id,
          created_at: now,
          expires_at: new Date(now.getTime() + this.o.sessionSeconds * 1000),
        })
        .execute();
      await appendAudit(tx, {
        ...actor,
        domainId: principal.domain_id,
        action: 'token.issue',
        target: principal.id,
        outcome: 'success',
        detail: { sessionId, clientId },
      });
    });
    const { kid, privateKey } = await this.o.signingKeys.current(principal.domain_id);
    const token = await new SignJWT({ dom: principal.domain_id, sid: sessionId, client_id: clientId })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .setIssuer(this.o.issuer)
      .setSubject(principal.id)
      .setAudience(audienceOf(principal.domain_id))
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.o.accessTokenSeconds}s`)
      .sign(privateKey);
    return { access_token: token, token_type: 'Bearer', expires_in: this.o.accessTokenSeconds };
  }

  private async publicKey(kid: string): Promise<{ domainId: string; key: KeyObject } | null> {
    const row = await this.o.store.db
      .selectFrom('signing_keys')
      .innerJoin('domains', 'domains.id', 'signing_keys.domain_id')
      .select(['signing_keys.domain_id', 'signing_keys.public_jwk'])
      .where('signing_keys.kid', '=', kid)
      .where('domains.status', '=', 'active')
      .where((eb) =>
        eb.or([eb('signing_keys.state', '<>', 'retired'), eb('signing_keys.publish_until', '>', new Date())]),
      )
      .executeTakeFirst();
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
    return cached;
  }

  /** The principal an access token stands for; `invalid_credentials` for anything wrong, whatever it is. */
  async verify(token: string): Promise<TokenPrincipal> {
    const refuse = (): never => {
      throw new BulkheadError('invalid_credentials');
    };
    if (token.length > maxTokenLength || token.split('.').length !== 3) return refuse();
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse();
    }
    if (header['alg'] !== 'EdDSA' || header['typ'] !== 'at+jwt') return refuse();
    if (forbiddenHeaders.some((h) => h in header)) return refuse();
    const kid = header['kid'];
    if (typeof kid !== 'string' || !kidShape.test(kid)) return refuse();
    const found = await this.publicKey(kid);
    if (found === null) return refuse();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, found.key, {
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        issuer: this.o.issuer,
        audience: audienceOf(found.domainId),
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid', 'dom'],
        maxTokenAge: `${this.o.accessTokenSeconds + 60}s`,
        clockTolerance: 5,
      }));
    } catch {
      return refuse();
    }
    const iat = payload['iat'];
    if (payload['dom'] !== found.domainId || typeof iat !== 'number' || iat > Date.now() / 1000 + 5)
      return refuse();
    const session = await this.o.store.db
      .selectFrom('sessions')
      .innerJoin('principals', 'principals.id', 'sessions.principal_id')
      .innerJoin('domains', 'domains.id', 'sessions.domain_id')
      .select(['sessions.id', 'domains.slug'])
      .where('sessions.id', '=', String(payload['sid']))
      .where('sessions.domain_id', '=', found.domainId)
      .where('sessions.principal_id', '=', String(payload['sub']))
      .where('sessions.revoked_at', 'is', null)
      .where('sessions.expires_at', '>', new Date())
      .where('principals.status', '=', 'active')
      .where('domains.status', '=', 'active')
      .executeTakeFirst();
    if (session === undefined) return refuse();
    return {
      kind: 'access_token',
      actor: `principal:${String(payload['sub'])}`,
      domainId: found.domainId,
      domainSlug: session.slug,
      subject: String(payload['sub']),
      sessionId: session.id,
    };
  }
}
