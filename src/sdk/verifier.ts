// The verifier other services use to accept Bulkhead access tokens. It pins EdDSA and `typ: at+jwt`,
// refuses `jku`/`x5u`/`x5c`/`jwk`/`crit` headers, takes keys only from the configured JWKS (cached, with
// a rate-limited refetch for an unknown `kid`), and checks the audience of the domain the *resource*
// belongs to — so a token of another domain is refused even when its signature is good.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';

export interface VerifierOptions {
  /** The `iss` Bulkhead puts in tokens (its BULKHEAD_ISSUER). */
  readonly issuer: string;
  /** Bulkhead's `/.well-known/jwks.json`, or a domain's `/v1/domains/{id}/jwks.json`. */
  readonly jwksUri: string | URL;
  /** Seconds of clock skew tolerated (default 5). */
  readonly clockToleranceSeconds?: number;
  /** The longest token lifetime accepted (default 300 s). */
  readonly maxTokenSeconds?: number;
  /** Called for every token that passed; true refuses it (see createRevocationFeed). */
  readonly isRevoked?: (token: { sessionId: string; subject: string; domainId: string }) => boolean;
  /** How many verified tokens to remember (default 10 000; 0 turns the cache off). */
  readonly cacheSize?: number;
  /** A key set to use instead of fetching `jwksUri` (tests, or keys shipped with the service). */
  readonly keySet?: JWTVerifyGetKey;
}

export interface VerifiedToken {
  readonly domainId: string;
  readonly subject: string;
  readonly sessionId: string;
  readonly clientId: string | null;
  readonly expiresAt: number;
}

/** Why a token was refused; callers answer 401 whatever it says. */
export class TokenRefused extends Error {
  override readonly name = 'TokenRefused';
}

const forbidden = ['jku', 'x5u', 'x5c', 'jwk', 'crit'];

export interface Verifier {
  /** Verifies a token for a resource of `domainId`; throws TokenRefused otherwise. */
  verify(token: string, domainId: string): Promise<VerifiedToken>;
}

/**
 * Builds a verifier. Options are checked here, not at the first request.
 *
 * @example
 * const verifier = createVerifier({ issuer: 'https://bulkhead.example', jwksUri: 'https://bulkhead.example/.well-known/jwks.json' });
 * const { subject } = await verifier.verify(token, 'dom_01…');
 */
export function createVerifier(options: VerifierOptions): Verifier {
  if (typeof options.issuer !== 'string' || options.issuer === '')
    throw new TypeError('createVerifier: issuer is required');
  const jwksUrl = new URL(options.jwksUri); // throws on a malformed URL, now rather than later
  const keys =
    options.keySet ?? createRemoteJWKSet(jwksUrl, { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  const tolerance = options.clockToleranceSeconds ?? 5;
  const maxAge = options.maxTokenSeconds ?? 300;
  // Verified tokens, keyed by the domain asked for and the whole token, kept until the token expires.
  // A hit still asks isRevoked, so a revocation is never hidden by the cache.
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, VerifiedToken>();
  return {
    async verify(token, domainId) {
      const cacheKey = `${domainId}\n${token}`;
      const hit = cache.get(cacheKey);
      if (hit !== undefined) {
        if (hit.expiresAt > Date.now() / 1000 && options.isRevoked?.(hit) !== true) return hit;
        cache.delete(cacheKey);
        throw new TokenRefused('expired or revoked');
      }
      const verified = await verifyUncached(token, domainId);
      if (cacheSize > 0) {
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
        cache.set(cacheKey, verified);
      }
      return verified;
    },
  };

  async function verifyUncached(token: string, domainId: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length > 4096 || token.split('.').length !== 3)
      throw new TokenRefused('malformed');
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRefused('malformed');
    }
    if (header['alg'] !== 'EdDSA' || header['typ'] !== 'at+jwt' || forbidden.some((h) => h in header)) {
      throw new TokenRefused('header');
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        issuer: options.issuer,
        audience: `bulkhead:${domainId}`,
        requiredClaims: ['exp', 'iat', 'sub', 'sid', 'dom', 'jti'],
        maxTokenAge: `${maxAge + 60}s`,
        clockTolerance: tolerance,
      }));
    } catch {
      throw new TokenRefused('signature or claims');
    }
    if (payload['dom'] !== domainId) throw new TokenRefused('domain');
    const iat = payload['iat'];
    if (typeof iat !== 'number' || iat > Date.now() / 1000 + tolerance) throw new TokenRefused('iat');
    const sessionId = String(payload['sid']);
    const subject = String(payload['sub']);
    if (options.isRevoked?.({ sessionId, subject, domainId }) === true) throw new TokenRefused('revoked');
    return {
      domainId,
      subject,
      sessionId,
      clientId: typeof payload['client_id'] === 'string' ? payload['client_id'] : null,
      expiresAt: Number(payload['exp']),
    };
  }
}
