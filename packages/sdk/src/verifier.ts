// The verifier other services use to accept Bulkhead access tokens. It pins EdDSA and `typ: at+jwt`,
// refuses `jku`/`x5u`/`x5c`/`jwk`/`crit` headers, takes keys only from the configured JWKS (cached, with
// a rate-limited refetch for an unknown `kid`), and checks the audience of the domain the *resource*
// belongs to — so a token of another domain is refused even when its signature is good.
//
// jose fetches and caches the key set; the token is parsed here and its signature checked with node:crypto,
// well ahead of WebCrypto (see bench/tokens.ts). Parsing is stricter than jose's: base64url must be
// canonical (no padding, no other alphabet, no stray bits) and JSON valid UTF-8 without a byte-order mark.
import {
  createPublicKey,
  KeyObject,
  verify as verifySignature,
  type webcrypto,
  type JsonWebKey,
} from 'node:crypto';
import { createRemoteJWKSet, type CompactJWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import {
  audienceOf,
  clockToleranceSeconds,
  decodeCanonicalPart as decodePart,
  forbiddenHeaders,
  maxTokenLength,
  requiredClaims,
  signatureBytes,
  tokenAgeGraceSeconds,
  tokenAlgorithm,
  tokenType,
} from './profile.js';

export interface VerifierOptions {
  /**
   * The `iss` Bulkhead puts in tokens: the domain's issuer URL (`<BULKHEAD_PUBLIC_URL>/d/<slug>`), or
   * BULKHEAD_ISSUER on a server without a public URL. Several while a server moves from one to the other
   * (docs/identity.md, "Moving to issuer URLs"): a token carrying any of them is accepted.
   */
  readonly issuer: string | readonly string[];
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A JSON object (not an array, string or null) from UTF-8 bytes, or null. */
function jsonObject(bytes: Buffer): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

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
  const issuers: readonly unknown[] = typeof options.issuer === 'string' ? [options.issuer] : options.issuer;
  if (
    !Array.isArray(issuers) ||
    issuers.length === 0 ||
    !issuers.every((issuer) => typeof issuer === 'string' && issuer !== '')
  )
    throw new TypeError('createVerifier: issuer is required (a non-empty string, or an array of them)');
  const jwksUrl = new URL(options.jwksUri); // throws on a malformed URL, now rather than later
  const keys =
    options.keySet ?? createRemoteJWKSet(jwksUrl, { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  const tolerance = options.clockToleranceSeconds ?? clockToleranceSeconds;
  const maxAge = options.maxTokenSeconds ?? 300;
  // The key set is asked for every token, so a key dropped from the JWKS stops working when jose's copy
  // is refreshed; what is kept is the KeyObject made from each key it hands back (one per kid and
  // version of the key set), keyed by that key.
  const keyObjects = new WeakMap<object, KeyObject>();
  // Verified tokens, keyed by the domain asked for and the whole token, kept until the token expires.
  // A hit still asks isRevoked, so a revocation is never hidden by the cache.
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, VerifiedToken>();
  // Tokens signed with one key share one header, so its parse is remembered (a few, by their exact text).
  const headers = new Map<string, Readonly<Record<string, unknown>> | null>();
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

  function headerOf(encoded: string): Readonly<Record<string, unknown>> | null {
    let header = headers.get(encoded);
    if (header === undefined) {
      const bytes = decodePart(encoded);
      header = bytes === null ? null : jsonObject(bytes);
      if (header !== null) Object.freeze(header);
      if (headers.size >= 64) headers.delete(headers.keys().next().value!);
      headers.set(encoded, header);
    }
    return header;
  }

  /** The Ed25519 public key the key set holds under the token's kid, as a node:crypto KeyObject. */
  async function keyFor(
    header: Readonly<Record<string, unknown>>,
    token: { protected: string; payload: string; signature: string },
  ): Promise<KeyObject> {
    let key: Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      key = await keys(header as unknown as CompactJWSHeaderParameters, token);
    } catch {
      throw new TokenRefused('key');
    }
    // A shared secret can never be an Ed25519 public key.
    if (key instanceof Uint8Array) throw new TokenRefused('key');
    let keyObject = key instanceof KeyObject ? key : keyObjects.get(key);
    if (keyObject === undefined) {
      try {
        keyObject =
          'kty' in key
            ? createPublicKey({ key: key as JsonWebKey, format: 'jwk' })
            : KeyObject.from(key as webcrypto.CryptoKey); // throws unless it is a CryptoKey
      } catch {
        throw new TokenRefused('key');
      }
      keyObjects.set(key, keyObject);
    }
    if (keyObject.type !== 'public' || keyObject.asymmetricKeyType !== 'ed25519')
      throw new TokenRefused('key');
    return keyObject;
  }

  async function verifyUncached(token: string, domainId: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length > maxTokenLength) throw new TokenRefused('malformed');
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenRefused('malformed');
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    const header = headerOf(encodedHeader);
    if (header === null) throw new TokenRefused('malformed');
    if (
      header['alg'] !== tokenAlgorithm ||
      header['typ'] !== tokenType ||
      typeof header['kid'] !== 'string' ||
      forbiddenHeaders.some((h) => h in header)
    ) {
      throw new TokenRefused('header');
    }
    const payloadBytes = decodePart(encodedPayload);
    const signature = decodePart(encodedSignature);
    if (payloadBytes === null || signature === null || signature.length !== signatureBytes)
      throw new TokenRefused('malformed');
    const key = await keyFor(header, {
      protected: encodedHeader,
      payload: encodedPayload,
      signature: encodedSignature,
    });
    // Both parts are canonical base64url, so this is exactly the ASCII that was signed.
    const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'latin1');
    let good = false;
    try {
      good = verifySignature(null, signingInput, key, signature);
    } catch {
      good = false;
    }
    if (!good) throw new TokenRefused('signature');

    const payload = jsonObject(payloadBytes);
    if (payload === null || requiredClaims.some((claim) => !Object.hasOwn(payload, claim)))
      throw new TokenRefused('claims');
    const { iss, aud, exp, iat, nbf, sub, sid, dom, jti } = payload;
    const audience = audienceOf(domainId);
    if (
      typeof iss !== 'string' ||
      !issuers.includes(iss) ||
      !(aud === audience || (Array.isArray(aud) && aud.includes(audience)))
    )
      throw new TokenRefused('issuer or audience');
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string')
      throw new TokenRefused('claims');
    if (dom !== domainId) throw new TokenRefused('domain');
    const now = Math.floor(Date.now() / 1000);
    if (!isNumber(exp) || exp <= now - tolerance) throw new TokenRefused('exp');
    if (nbf !== undefined && (!isNumber(nbf) || nbf > now + tolerance)) throw new TokenRefused('nbf');
    if (!isNumber(iat) || iat > now + tolerance || now - iat - tolerance > maxAge + tokenAgeGraceSeconds)
      throw new TokenRefused('iat');
    if (options.isRevoked?.({ sessionId: sid, subject: sub, domainId }) === true)
      throw new TokenRefused('revoked');
    const clientId = payload['client_id'];
    return {
      domainId,
      subject: sub,
      sessionId: sid,
      clientId: typeof clientId === 'string' ? clientId : null,
      expiresAt: exp,
    };
  }
}
