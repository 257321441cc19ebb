// Each domain's OAuth clients, registered by the operator or the domain's admins. A client belongs to
// exactly one domain: it is created, listed and deleted in that domain's scope only, and another domain's
// id finds nothing (404). Redirect URIs are kept exactly as registered and compared exactly later (no
// prefix, no pattern); a confidential client's secret is shown once and stored only as a scrypt hash.
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, importJWK, jwtVerify, type JWK } from 'jose';
import { appendAudit } from '../../audit/log.js';
import { newId } from '../../domain/ids.js';
import { BulkheadError, notFound } from '../../errors.js';
import type { Actor } from '../../policy/principal.js';
import { lockDomain } from '../../store/repositories/domains.js';
import {
  deleteOAuthClient,
  domainAllowsOrigin,
  insertOAuthClient,
  liveOAuthClientStatement,
  spendAssertion,
  liveOAuthClients,
} from '../../store/repositories/oauth-clients.js';
import type { OAuthClientRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { rowView } from '../../store/views.js';
import { CheckedSecrets } from '../checked-secrets.js';
import { decoyHash, hashSecret } from '../passwords.js';

export const clientGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const clientAuthMethods = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'none',
] as const;

/** The signing algorithms a `private_key_jwt` assertion may use. */
export const assertionAlgorithms = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'PS256', 'RS256'];
/** How far ahead an assertion may expire (RFC 7523 §3: a short lifetime). */
const assertionMaxSeconds = 300;
export const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface NewClientInput {
  readonly name: string;
  readonly kind: 'confidential' | 'public';
  readonly tokenEndpointAuthMethod?: (typeof clientAuthMethods)[number] | undefined;
  readonly redirectUris: readonly string[];
  readonly grantTypes: readonly (typeof clientGrantTypes)[number][];
  readonly scopes?: readonly string[] | undefined;
  readonly allowedOrigins?: readonly string[] | undefined;
  /** Where end-session may send the browser back to (exactly these). */
  readonly postLogoutRedirectUris?: readonly string[] | undefined;
  /** The public keys of a `private_key_jwt` client. */
  readonly jwks?: { keys: Record<string, unknown>[] } | undefined;
}

export interface ClientView {
  readonly id: string;
  readonly domainId: string;
  readonly clientId: string;
  readonly name: string;
  readonly kind: 'confidential' | 'public';
  readonly tokenEndpointAuthMethod: string;
  readonly redirectUris: string[];
  readonly grantTypes: string[];
  readonly scopes: string[];
  readonly allowedOrigins: string[];
  readonly postLogoutRedirectUris: string[];
  readonly createdAt: string;
}

function view(row: OAuthClientRow): ClientView {
  return rowView(
    row,
    [
      'id',
      'domain_id',
      'client_id',
      'name',
      'kind',
      'auth_method',
      'redirect_uris',
      'grant_types',
      'scopes',
      'allowed_origins',
      'post_logout_redirect_uris',
      'created_at',
    ],
    { auth_method: 'tokenEndpointAuthMethod' },
  );
}

const invalid = (message: string) => new BulkheadError('invalid_request', message);
const loopback = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A redirect URI as RFC 9700 §4.1 wants it registered: absolute, https (or http on a loopback host, for
 * native apps and development), no fragment, no user information, no wildcard; kept exactly as given.
 */
export function checkRedirectUri(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid(`The redirect URI ${JSON.stringify(uri)} is not an absolute URL.`);
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && loopback.has(url.hostname));
  if (!secure) throw invalid('A redirect URI must be https (http only on a loopback host).');
  if (uri.includes('#')) throw invalid('A redirect URI has no fragment.');
  if (url.username !== '' || url.password !== '') throw invalid('A redirect URI has no user information.');
  if (uri.includes('*')) throw invalid('A redirect URI is registered exactly: no wildcard.');
}

/** An origin a browser sends: scheme, host and port, nothing else. */
export function checkOrigin(origin: string): void {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw invalid(`The origin ${JSON.stringify(origin)} is not a URL.`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.origin !== origin)
    throw invalid(`The origin ${JSON.stringify(origin)} must be scheme://host[:port] exactly.`);
}

/** A JWK Set of public keys each of which imports: no private part, no symmetric key. */
async function checkJwks(jwks: { keys: Record<string, unknown>[] }): Promise<void> {
  if (jwks.keys.length === 0) throw invalid('`jwks` needs at least one key.');
  for (const key of jwks.keys) {
    if ('d' in key || 'k' in key || key['kty'] === 'oct')
      throw invalid('`jwks` holds public keys only: never a private or symmetric key.');
    try {
      await importJWK(
        key as JWK,
        typeof key['alg'] === 'string'
          ? key['alg']
          : key['kty'] === 'OKP'
            ? 'EdDSA'
            : key['kty'] === 'EC'
              ? 'ES256'
              : 'RS256',
      );
    } catch {
      throw invalid('A key of `jwks` is not a public key this server can read.');
    }
  }
}

export class ClientService {
  private readonly secrets: CheckedSecrets;

  constructor(private readonly deps: { readonly store: Store; readonly secrets?: CheckedSecrets }) {
    this.secrets = deps.secrets ?? new CheckedSecrets();
  }

  /** The live client with this client id, of whichever domain, read in one round trip. */
  private async live(clientId: string): Promise<OAuthClientRow | undefined> {
    const [[row]] = await this.deps.store.systemRead('authenticate', (db) => [
      liveOAuthClientStatement(db, clientId),
    ]);
    return row;
  }

  /** Registers a client; a confidential one's secret is in the answer, this once. */
  async create(
    actor: Actor,
    domainId: string,
    input: NewClientInput,
  ): Promise<ClientView & { clientSecret?: string }> {
    const method =
      input.tokenEndpointAuthMethod ?? (input.kind === 'public' ? 'none' : 'client_secret_basic');
    if ((input.kind === 'public') !== (method === 'none'))
      throw invalid('A public client authenticates with `none`; a confidential one with a secret or a key.');
    if ((method === 'private_key_jwt') !== (input.jwks !== undefined))
      throw invalid('`jwks` (the public keys) goes with `private_key_jwt`, and only with it.');
    if (input.jwks !== undefined) await checkJwks(input.jwks);
    if (input.grantTypes.includes('client_credentials') && input.kind === 'public')
      throw invalid('A public client cannot use the client_credentials grant.');
    if (input.grantTypes.includes('authorization_code') && input.redirectUris.length === 0)
      throw invalid('The authorization_code grant needs at least one redirect URI.');
    input.redirectUris.forEach(checkRedirectUri);
    // The same rules as a redirect URI's: end-session sends the browser there with `state`.
    (input.postLogoutRedirectUris ?? []).forEach(checkRedirectUri);
    (input.allowedOrigins ?? []).forEach(checkOrigin);
    const unique = (list: readonly string[]) => [...new Set(list)];
    const clientSecret =
      method === 'client_secret_basic' || method === 'client_secret_post'
        ? `bhs_${randomBytes(32).toString('base64url')}`
        : undefined;
    const secretHash = clientSecret === undefined ? null : await hashSecret(clientSecret);
    const row = await this.deps.store.withDomain(domainId, async (tx) => {
      if ((await lockDomain(tx, domainId)).status === 'deleted') throw new BulkheadError('domain_deleted');
      const inserted = await insertOAuthClient(tx, {
        id: newId('oauthClient'),
        domainId,
        clientId: `bho_${randomBytes(16).toString('hex')}`,
        name: input.name,
        kind: input.kind,
        secretHash,
        authMethod: method,
        jwks: input.jwks ?? null,
        redirectUris: unique(input.redirectUris),
        grantTypes: unique(input.grantTypes),
        scopes: unique(input.scopes ?? ['openid']),
        allowedOrigins: unique(input.allowedOrigins ?? []),
        postLogoutRedirectUris: unique(input.postLogoutRedirectUris ?? []),
        at: new Date(),
      });
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'oauth_client.create',
        target: inserted.id,
        outcome: 'success',
        detail: { clientId: inserted.client_id, kind: inserted.kind },
      });
      return inserted;
    });
    return clientSecret === undefined ? view(row) : { ...view(row), clientSecret };
  }

  /**
   * The registered confidential client with this id and secret, presented the way it registered
   * (`client_secret_basic` or `client_secret_post`), or null; an unknown client costs the same hashing.
   * The client and its stored hash are read every time: a deleted client is refused at once, whatever
   * `CheckedSecrets` remembers.
   */
  async check(
    clientId: string,
    secret: string,
    method: 'client_secret_basic' | 'client_secret_post',
  ): Promise<OAuthClientRow | null> {
    const row = await this.live(clientId);
    const ok = await this.secrets.verify(secret, row?.secret_hash ?? (await decoyHash()));
    return ok && row !== undefined && row.auth_method === method ? row : null;
  }

  /**
   * The domain's `private_key_jwt` client whose assertion this is (RFC 7523 §3), or null: signed with one
   * of its registered keys, `iss` and `sub` its client id, `aud` this token endpoint or issuer, an `exp`
   * at most five minutes ahead, and a `jti` it never used before (spent here until the assertion expires).
   */
  async checkAssertion(
    domainId: string,
    assertion: string,
    audiences: readonly string[],
    clientId: string | undefined,
  ): Promise<OAuthClientRow | null> {
    let claimed: string;
    try {
      const sub = decodeJwt(assertion).sub;
      if (typeof sub !== 'string') return null;
      claimed = sub;
    } catch {
      return null;
    }
    if (clientId !== undefined && clientId !== claimed) return null;
    const client = await this.find(domainId, claimed);
    if (client === null || client.auth_method !== 'private_key_jwt' || client.jwks === null) return null;
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
        issuer: client.client_id,
        subject: client.client_id,
        audience: [...audiences],
        algorithms: assertionAlgorithms,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch {
      return null;
    }
    const now = new Date();
    const exp = new Date(payload.exp! * 1000);
    if (exp.getTime() > now.getTime() + assertionMaxSeconds * 1000 || typeof payload.jti !== 'string')
      return null;
    if (payload.jti.length > 200) return null;
    const jti = payload.jti;
    const fresh = await this.deps.store.withDomain(domainId, (tx) =>
      spendAssertion(tx, { domainId, clientId: client.client_id, jti, expiresAt: exp, now }),
    );
    return fresh ? client : null;
  }

  /** The domain's live client with this client id, or null (one of another domain is none). */
  async find(domainId: string, clientId: string): Promise<OAuthClientRow | null> {
    if (!/^bho_[0-9a-f]{32}$/.test(clientId)) return null;
    const row = await this.live(clientId);
    return row !== undefined && row.domain_id === domainId ? row : null;
  }

  /** Whether any live client of the domain allows this browser origin (a CORS preflight names no client). */
  async allowsOrigin(domainId: string, origin: string): Promise<boolean> {
    return this.deps.store.withDomain(domainId, (tx) => domainAllowsOrigin(tx, domainId, origin));
  }

  async list(domainId: string): Promise<ClientView[]> {
    return (await this.deps.store.withDomain(domainId, (tx) => liveOAuthClients(tx, domainId))).map(view);
  }

  /** Deletes a client: it authenticates nowhere from the next request on. 404 for another domain's. */
  async delete(actor: Actor, domainId: string, id: string): Promise<void> {
    await this.deps.store.withDomain(domainId, async (tx) => {
      const row = await deleteOAuthClient(tx, domainId, id, new Date());
      if (row === undefined) throw notFound();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'oauth_client.delete',
        target: id,
        outcome: 'success',
        detail: { clientId: row.client_id },
      });
    });
  }
}
