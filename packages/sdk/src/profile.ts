// The access token profile, written once: what Bulkhead signs (identity/tokens.ts on the server) and
// what every verifier accepts (the server's and this package's). EdDSA JWTs in the RFC 9068 profile,
// signed with the domain's own key; anything else about a token is a refusal.

/** The one signature algorithm. */
export const tokenAlgorithm = 'EdDSA';

/** The one `typ` header (RFC 9068), compared exactly. */
export const tokenType = 'at+jwt';

/** Headers that would let a token choose its own key or demand extensions: a token carrying one is refused. */
export const forbiddenHeaders: readonly string[] = ['jku', 'x5u', 'x5c', 'jwk', 'crit'];

/** Claims every token carries. */
export const requiredClaims: readonly string[] = ['iss', 'aud', 'exp', 'iat', 'sub', 'sid', 'dom', 'jti'];

/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
export const clockToleranceSeconds = 5;

/** How much older than its lifetime a token's `iat` may be (beyond the clock tolerance). */
export const tokenAgeGraceSeconds = 60;

/** The longest token accepted, in characters. */
export const maxTokenLength = 4096;

/** The bytes of an Ed25519 signature. */
export const signatureBytes = 64;

/** The shape of a signing key's `kid` (its RFC 7638 thumbprint, base64url). */
export const kidShape = /^[A-Za-z0-9_-]{43}$/;

/** The audience of a domain's tokens: its id, never its slug, so a re-created slug accepts nothing old. */
export const audienceOf = (domainId: string): string => `bulkhead:${domainId}`;

/**
 * The bytes of one part of a compact JWS, or null unless it is base64url in its one canonical spelling.
 * Node's and jose's decoders skip characters outside the alphabet, accept `=`, `+` and `/` and ignore
 * stray trailing bits, so several strings would decode to one token; encoding the result again and
 * comparing refuses all of those at once, and a token has exactly one spelling that is accepted.
 */
export function decodeCanonicalPart(part: string): Buffer | null {
  const bytes = Buffer.from(part, 'base64url');
  return bytes.toString('base64url') === part ? bytes : null;
}

/** Whether one part of a compact JWS is base64url in its one canonical spelling. */
export const isCanonicalPart = (part: string): boolean => decodeCanonicalPart(part) !== null;
