// The SDK verifier on its own, with keys of the test's making: every way a token can be malformed,
// forged or stale is refused with TokenRefused, however lenient a base64url or JSON decoder might be,
// and a remote key set is fetched once and not refetched for every unknown kid.
import { createHmac, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, TokenRefused, type Verifier } from '../../src/sdk/index.js';

const issuer = 'https://bulkhead.verifier.test';
const domainId = 'dom_0000000000000000000000000a';
const otherDomain = 'dom_0000000000000000000000000b';
const b64 = (v: unknown) =>
  (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))).toString('base64url');

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const header = { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' };

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: `bulkhead:${domainId}`,
    sub: 'prn_00000000000000000000000001',
    sid: 'ses_00000000000000000000000001',
    dom: domainId,
    jti: 'jti-1',
    client_id: 'cli',
    iat: now,
    exp: now + 120,
    ...extra,
  };
}

/** Signs the two encoded parts exactly as given, as the real key would. */
function signed(h: string, p: string, key: KeyObject = privateKey): string {
  return `${h}.${p}.${sign(null, Buffer.from(`${h}.${p}`), key).toString('base64url')}`;
}

/** Signs whatever header and payload it is given (objects, or raw JSON text or bytes). */
function mint(h: unknown = header, p: unknown = claims(), key: KeyObject = privateKey): string {
  return signed(b64(h), b64(p), key);
}

/** A good token with a `-` or `_` in its encoded payload and in its signature. */
function withUrlCharacters(): [string, string, string] {
  // Six `~` hold an aligned `~~~`, which encodes as `fn5-`.
  for (let i = 0; ; i++) {
    const [h, p, sig] = mint(header, claims({ jti: `~~~~~~${i}` })).split('.') as [string, string, string];
    if (/[-_]/.test(sig)) return [h, p, sig];
  }
}
const standard = (s: string) => s.replace(/-/g, '+').replace(/_/g, '/');

const without = (name: string) => {
  const c = claims();
  delete c[name];
  return c;
};

describe('the SDK verifier', () => {
  let jwk: JsonWebKey;
  let verifier: Verifier;
  const revoked = new Set<string>();

  beforeAll(async () => {
    jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
    verifier = createVerifier({
      issuer,
      jwksUri: 'http://unused.invalid/jwks.json',
      keySet: createLocalJWKSet({ keys: [jwk] }),
      isRevoked: (t) => revoked.has(t.sessionId),
      cacheSize: 0,
    });
  });

  it('accepts a good token, with the audience as a string or in an array', async () => {
    const c = claims();
    expect(await verifier.verify(mint(header, c), domainId)).toEqual({
      domainId,
      subject: 'prn_00000000000000000000000001',
      sessionId: 'ses_00000000000000000000000001',
      clientId: 'cli',
      expiresAt: c['exp'],
    });
    const both = mint(header, claims({ aud: ['other', `bulkhead:${domainId}`] }));
    expect((await verifier.verify(both, domainId)).domainId).toBe(domainId);
    const noClient = mint(header, claims({ client_id: undefined }));
    expect((await verifier.verify(noClient, domainId)).clientId).toBeNull();
  });

  const good = () => mint();
  const parts = () => good().split('.') as [string, string, string];

  it.each<[string, () => string]>([
    // The shape of the token.
    ['two parts', () => parts().slice(0, 2).join('.')],
    ['four parts', () => `${good()}.`],
    ['an oversized token', () => mint(header, claims({ pad: 'x'.repeat(5000) }))],
    ['an empty string', () => ''],
    // The algorithm and the header.
    ['alg none', () => `${b64({ ...header, alg: 'none' })}.${parts()[1]}.`],
    ['alg None with a signature', () => `${b64({ ...header, alg: 'None' })}.${parts()[1]}.${parts()[2]}`],
    [
      'HS256 keyed with the public key',
      () => {
        const input = `${b64({ ...header, alg: 'HS256' })}.${parts()[1]}`;
        const mac = createHmac('sha256', Buffer.from(String(jwk.x), 'base64url')).update(input);
        return `${input}.${mac.digest('base64url')}`;
      },
    ],
    ['alg Ed25519 (an alias jose accepts)', () => mint({ ...header, alg: 'Ed25519' })],
    ['alg eddsa', () => mint({ ...header, alg: 'eddsa' })],
    ['no typ', () => mint({ alg: 'EdDSA', kid: 'k1' })],
    ['typ JWT', () => mint({ ...header, typ: 'JWT' })],
    ['typ AT+JWT', () => mint({ ...header, typ: 'AT+JWT' })],
    ['typ application/at+jwt', () => mint({ ...header, typ: 'application/at+jwt' })],
    ['an embedded jwk', () => mint({ ...header, jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } })],
    ['a jku', () => mint({ ...header, jku: 'https://evil.example/jwks.json' })],
    ['an x5u', () => mint({ ...header, x5u: 'https://evil.example/cert.pem' })],
    ['an x5c', () => mint({ ...header, x5c: ['AAAA'] })],
    ['a crit', () => mint({ ...header, crit: ['exp2'], exp2: 1 })],
    ['no kid', () => mint({ alg: 'EdDSA', typ: 'at+jwt' })],
    ['a numeric kid', () => mint({ ...header, kid: 1 })],
    ['an unknown kid', () => mint({ ...header, kid: 'k2' })],
    ['a kid with path traversal', () => mint({ ...header, kid: '../../../../etc/passwd' })],
    ['a kid of __proto__', () => mint({ ...header, kid: '__proto__' })],
    // JSON's last duplicate wins, as RFC 7515 allows; the signer's own key cannot smuggle a second alg.
    [
      'a duplicate alg whose last value is none',
      () => mint('{"alg":"EdDSA","typ":"at+jwt","kid":"k1","alg":"none"}'),
    ],
    [
      'alg and typ only inside __proto__',
      () => mint('{"__proto__":{"alg":"EdDSA","typ":"at+jwt"},"kid":"k1"}'),
    ],
    ['an ALG in capitals instead of alg', () => mint('{"ALG":"EdDSA","typ":"at+jwt","kid":"k1"}')],
    ['a header that is a JSON array', () => mint([header])],
    ['a header that is a JSON string', () => mint('"EdDSA"')],
    ['a header that is null', () => mint('null')],
    ['a header that is not JSON', () => mint('{"alg":"EdDSA",')],
    ['a header that is not UTF-8', () => mint(Buffer.from([0x7b, 0xff, 0x7d]))],
    // Base64url that a lenient decoder would take, signed just as it is where the signature covers it.
    ['the header padded with =', () => signed(`${b64(header)}=`, b64(claims()))],
    ['the payload padded with =', () => signed(b64(header), `${b64(claims())}==`)],
    ['a * inside the payload', () => signed(b64(header), b64(claims()).replace(/^(.{10})/, '$1*'))],
    ['a space inside the header', () => signed(b64(header).replace(/^(.{10})/, '$1 '), b64(claims()))],
    [
      'the payload in the standard alphabet',
      () => {
        const [h, p] = withUrlCharacters();
        return signed(h, standard(p));
      },
    ],
    [
      'a header with a byte-order mark',
      () => mint(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(header))])),
    ],
    ['the signature padded with =', () => `${parts()[0]}.${parts()[1]}.${parts()[2]}==`],
    [
      'a space inside the signature',
      () => `${parts()[0]}.${parts()[1]}.${parts()[2].replace(/^(.{10})/, '$1 ')}`,
    ],
    [
      'the signature in the standard alphabet',
      () => {
        const [h, p, sig] = withUrlCharacters();
        return `${h}.${p}.${standard(sig)}`;
      },
    ],
    // Every signature is also the decoding of 15 other spellings that differ only in stray trailing bits.
    [
      'the signature spelled with stray trailing bits',
      () => {
        const [h, p, sig] = parts();
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const odd = `${sig.slice(0, -1)}${alphabet[alphabet.indexOf(sig.at(-1)!) | 1]!}`;
        expect(Buffer.from(odd, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
        return `${h}.${p}.${odd}`;
      },
    ],
    // The signature.
    ['the signature stripped', () => `${parts()[0]}.${parts()[1]}.`],
    ['an all-zero signature', () => `${parts()[0]}.${parts()[1]}.${b64(Buffer.alloc(64))}`],
    [
      'a short signature',
      () => `${parts()[0]}.${parts()[1]}.${b64(Buffer.from(parts()[2], 'base64url').subarray(0, 63))}`,
    ],
    [
      'a long signature',
      () =>
        `${parts()[0]}.${parts()[1]}.${b64(Buffer.concat([Buffer.from(parts()[2], 'base64url'), Buffer.alloc(1)]))}`,
    ],
    [
      'the payload edited',
      () => `${parts()[0]}.${b64(claims({ sub: 'prn_00000000000000000000000002' }))}.${parts()[2]}`,
    ],
    ['the header edited', () => `${b64({ ...header, extra: 1 })}.${parts()[1]}.${parts()[2]}`],
    ['another key under this kid', () => mint(header, claims(), other.privateKey)],
    // The payload.
    ['a payload that is a JSON array', () => mint(header, [claims()])],
    ['a payload that is a JSON string', () => mint(header, '"hello"')],
    ['a payload that is a number', () => mint(header, '42')],
    ['a payload that is null', () => mint(header, 'null')],
    ['a payload that is not JSON', () => mint(header, '{"sub":')],
    ['a payload that is not UTF-8', () => mint(header, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))],
    // The claims.
    ...['iss', 'aud', 'exp', 'iat', 'sub', 'sid', 'dom', 'jti'].map((name): [string, () => string] => [
      `no ${name}`,
      () => mint(header, without(name)),
    ]),
    ['a wrong issuer', () => mint(header, claims({ iss: 'https://evil.example' }))],
    ['an issuer in an array', () => mint(header, claims({ iss: [issuer] }))],
    ["another domain's audience", () => mint(header, claims({ aud: `bulkhead:${otherDomain}` }))],
    ['an audience array without this domain', () => mint(header, claims({ aud: ['bulkhead:x', 'y'] }))],
    [
      'an audience that is an object',
      () => mint(header, claims({ aud: { [`bulkhead:${domainId}`]: true } })),
    ],
    ["another domain's dom", () => mint(header, claims({ dom: otherDomain }))],
    ['a numeric sub', () => mint(header, claims({ sub: 1 }))],
    ['a numeric sid', () => mint(header, claims({ sid: 1 }))],
    ['an object jti', () => mint(header, claims({ jti: {} }))],
    [
      'expired',
      () =>
        mint(
          header,
          claims({ iat: Math.floor(Date.now() / 1000) - 200, exp: Math.floor(Date.now() / 1000) - 60 }),
        ),
    ],
    ['exp as a string', () => mint(header, claims({ exp: String(Math.floor(Date.now() / 1000) + 60) }))],
    ['an infinite exp', () => mint(header, JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e999'))],
    ['nbf in the future', () => mint(header, claims({ nbf: Math.floor(Date.now() / 1000) + 600 }))],
    ['nbf as a string', () => mint(header, claims({ nbf: '0' }))],
    ['iat in the future', () => mint(header, claims({ iat: Math.floor(Date.now() / 1000) + 600 }))],
    ['iat as a string', () => mint(header, claims({ iat: String(Math.floor(Date.now() / 1000)) }))],
    [
      'an iat older than the longest lifetime',
      () => mint(header, claims({ iat: Math.floor(Date.now() / 1000) - 400 })),
    ],
  ])('refuses a token with %s', async (_, make) => {
    const token = make();
    await expect(verifier.verify(token, domainId)).rejects.toBeInstanceOf(TokenRefused);
  });

  it('refuses a good token for another domain and a non-string token', async () => {
    await expect(verifier.verify(mint(), otherDomain)).rejects.toBeInstanceOf(TokenRefused);
    await expect(verifier.verify(undefined as never, domainId)).rejects.toBeInstanceOf(TokenRefused);
  });

  it('asks isRevoked on every verification, cached or not', async () => {
    const cached = createVerifier({
      issuer,
      jwksUri: 'http://unused.invalid/jwks.json',
      keySet: createLocalJWKSet({ keys: [jwk] }),
      isRevoked: (t) => revoked.has(t.sessionId),
    });
    const token = mint();
    await cached.verify(token, domainId);
    revoked.add('ses_00000000000000000000000001');
    await expect(cached.verify(token, domainId)).rejects.toBeInstanceOf(TokenRefused);
    await expect(verifier.verify(token, domainId)).rejects.toBeInstanceOf(TokenRefused);
    revoked.clear();
  });

  describe('keys a key set hands back', () => {
    const using = (key: Awaited<ReturnType<JWTVerifyGetKey>>) =>
      createVerifier({ issuer, jwksUri: 'http://unused.invalid/jwks.json', keySet: () => key });

    it('takes an Ed25519 public key as a KeyObject or a JWK', async () => {
      await expect(using(publicKey).verify(mint(), domainId)).resolves.toBeDefined();
      await expect(using(jwk as never).verify(mint(), domainId)).resolves.toBeDefined();
    });

    it.each<[string, () => Awaited<ReturnType<JWTVerifyGetKey>>]>([
      ['an X25519 key', () => generateKeyPairSync('x25519').publicKey],
      ['an Ed448 key', () => generateKeyPairSync('ed448').publicKey],
      ['a P-256 key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey],
      ['an RSA key', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
      ['a private key', () => privateKey],
      ['a shared secret', () => new Uint8Array(32)],
      [
        'a JWK of kty EC',
        () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
      ],
      ['a JWK of crv X25519', () => generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' })],
      ['a JWK that is not a key', () => ({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' })],
      ['something that is no key at all', () => ({ type: 'public' })],
    ])('refuses %s', async (_, key) => {
      await expect(using(key()).verify(mint(), domainId)).rejects.toBeInstanceOf(TokenRefused);
    });

    it('refuses when the JWKS holds only a key of the wrong type under the kid', async () => {
      const x25519 = { ...generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }), kid: 'k1' };
      const ec = {
        ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
        kid: 'k1',
      };
      for (const keys of [[x25519], [ec], [{ ...jwk, use: 'enc' }]]) {
        const v = createVerifier({
          issuer,
          jwksUri: 'http://unused.invalid/jwks.json',
          keySet: createLocalJWKSet({ keys: keys }),
        });
        await expect(v.verify(mint(), domainId)).rejects.toBeInstanceOf(TokenRefused);
      }
    });
  });

  describe('a remote key set', () => {
    let fetches = 0;
    let url = '';
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('is fetched once, and not again for unknown kids while it cools down', async () => {
      const v = createVerifier({ issuer, jwksUri: url, cacheSize: 0 });
      await v.verify(mint(), domainId);
      await v.verify(mint(header, claims({ jti: 'jti-2' })), domainId);
      expect(fetches).toBe(1);
      await expect(v.verify(mint({ ...header, kid: 'k2' }), domainId)).rejects.toBeInstanceOf(TokenRefused);
      await expect(v.verify(mint({ ...header, kid: 'k3' }), domainId)).rejects.toBeInstanceOf(TokenRefused);
      expect(fetches).toBe(1); // fetched under a second ago: still cooling down
    });
  });
});
