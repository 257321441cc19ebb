// The key that signs the revocation feed. Anyone allowed to publish on Bulkhead's Redis can put a message
// on the feed's channel, so a verifier acts only on a message signed (Ed25519, compact JWS) by a key it
// fetched from Bulkhead over HTTP (`/v1/revocations/jwks.json`): the right to publish never carries the
// power to sign. The key is derived from the server secret, which every process sharing a store already
// shares, so they all sign alike with no table to keep; a version number (BULKHEAD_FEED_KEY_VERSION) rotates it.
import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, type KeyObject } from 'node:crypto';
import type { PublicJwk } from '../signing-keys.js';
import type { Revocation } from '../revocations.js';

/** The `typ` of a feed message, so a feed signature can never be taken for a token's, nor the reverse. */
export const feedMessageType = 'bulkhead-revocation+jws';

// An Ed25519 private key is 32 random bytes (RFC 8032); RFC 8410 wraps them in this fixed PKCS #8 prefix.
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

interface FeedKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: PublicJwk;
}

function deriveKey(serverSecret: Buffer, version: number): FeedKey {
  const seed = Buffer.from(
    hkdfSync('sha256', serverSecret, Buffer.alloc(0), `bulkhead revocation feed key v${version}`, 32),
  );
  const privateKey = createPrivateKey({
    key: Buffer.concat([pkcs8Prefix, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  // RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, no whitespace.
  const kid = createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
  return { kid, privateKey, jwk: { kty: 'OKP', crv: 'Ed25519', x: x!, kid, alg: 'EdDSA', use: 'sig' } };
}

export interface FeedKeysOptions {
  /** The server secret every Bulkhead process sharing the store has. */
  readonly secret: Buffer;
  /** Which key signs (default 1). Versions one below and one above it are published too. */
  readonly version?: number;
}

/**
 * Signs feed messages with the current version's key and publishes the public halves of the previous,
 * current and next versions: during a rolling change from version n to n+1 every process already
 * publishes both, so a verifier knows a key before any message signed with it arrives.
 *
 * @example
 * const keys = new FeedKeys({ secret, version: 1 });
 * await redis.publish(revocationChannel, keys.sign(revocation));
 */
export class FeedKeys {
  private readonly current: FeedKey;
  private readonly published: PublicJwk[];

  constructor(options: FeedKeysOptions) {
    const version = options.version ?? 1;
    if (!Number.isSafeInteger(version) || version < 1)
      throw new TypeError('FeedKeys: version must be a positive integer');
    this.current = deriveKey(options.secret, version);
    this.published = [version - 1, version, version + 1]
      .filter((v) => v >= 1)
      .map((v) => (v === version ? this.current : deriveKey(options.secret, v)).jwk);
  }

  /**
   * A revocation as a compact JWS. Synchronous on purpose: the publisher sends in the order it is given
   * records, and an await here could let a later record overtake an earlier one.
   */
  sign(r: Revocation): string {
    const header = { alg: 'EdDSA', typ: feedMessageType, kid: this.current.kid };
    const payload = { seq: r.seq, kind: r.kind, target: r.target, domainId: r.domainId, at: r.at };
    const input = `${encode(header)}.${encode(payload)}`;
    const signature = sign(null, Buffer.from(input, 'latin1'), this.current.privateKey);
    return `${input}.${signature.toString('base64url')}`;
  }

  /** The key set verifiers fetch: previous, current and next version. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: [...this.published] };
  }
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
