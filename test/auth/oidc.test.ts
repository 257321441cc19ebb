// Each domain as an OpenID Provider, driven by the real clients users would pick (openid-client v6 and
// oauth4webapi) against a listening server, on both stores: discovery from nothing but the issuer URL,
// the client-credentials and refresh-token grants, introspection and revocation, OAuth errors the
// libraries can read, and the domain boundary: nothing of domain A is obtained, spent, introspected or
// revoked at domain B's endpoints, and a refusal changes nothing.
import { createServer } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '@bulkhead/sdk';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { Issuers } from '../../src/identity/oidc/issuers.js';
import { TokenService } from '../../src/identity/tokens.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices, testSecret } from '../helpers/backends.js';

const password = 'correct horse battery staple';
const legacyIssuer = 'https://bulkhead.legacy.test';

/** A port nothing listens on now, so the public URL can be known before the server starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Side {
  id: string;
  slug: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  config: client.Configuration;
  as: oauth.AuthorizationServer;
}

describe.each(backends)('each domain an OpenID Provider on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let base: string;
  let a: Side;
  let b: Side;
  const insecure = { [oauth.allowInsecureRequests]: true };

  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  const operator = (method: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const passwordGrant = async (side: Side) => {
    const res = await post('/v1/auth/token', {
      grant_type: 'password',
      domain: side.slug,
      username: 'ada@example.com',
      password,
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { access_token: string; refresh_token: string };
  };
  const whoami = async (token: string) =>
    (await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;

  async function side(label: string): Promise<Side> {
    const slug = `oidc-${label}-${process.pid}`;
    const domain = await (await operator('POST', '/v1/domains', { slug, name: label })).json();
    const { id } = domain as { id: string };
    const user = await operator('POST', `/v1/domains/${id}/principals`, {
      kind: 'user',
      email: 'ada@example.com',
      password,
    });
    expect(user.status).toBe(201);
    const service = (await (
      await operator('POST', `/v1/domains/${id}/principals`, { kind: 'service' })
    ).json()) as { clientId: string; clientSecret: string };
    const issuer = `${base}/d/${slug}`;
    const config = await client.discovery(
      new URL(issuer),
      service.clientId,
      service.clientSecret,
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const as = await oauth.processDiscoveryResponse(
      new URL(issuer),
      await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }),
    );
    return { id, slug, issuer, clientId: service.clientId, clientSecret: service.clientSecret, config, as };
  }

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    services = await openTestServices(backend, {
      issuer: legacyIssuer,
      publicUrl: base,
      accessTokenSeconds: 120,
    });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    await app.listen({ port, host: '127.0.0.1' });
    a = await side('a');
    b = await side('b');
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('is found by openid-client and oauth4webapi from its issuer URL alone, at every well-known path', async () => {
    const metadata = a.config.serverMetadata();
    expect(metadata.issuer).toBe(a.issuer);
    expect(metadata.token_endpoint).toBe(`${a.issuer}/token`);
    expect(metadata.jwks_uri).toBe(`${a.issuer}/jwks.json`);
    expect(metadata.grant_types_supported).toEqual([
      'authorization_code',
      'client_credentials',
      'refresh_token',
    ]);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual([
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ]);
    // Exactly what is served: the code flow with PKCE S256 only, and `iss` in its responses.
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_endpoint).toBe(`${a.issuer}/authorize`);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(a.as.issuer).toBe(a.issuer);
    const paths = [
      `/d/${a.slug}/.well-known/openid-configuration`,
      `/d/${a.slug}/.well-known/oauth-authorization-server`,
      `/.well-known/oauth-authorization-server/d/${a.slug}`,
    ];
    for (const path of paths) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
      expect(await res.json(), path).toEqual(metadata);
    }
    // Each domain has its own issuer and endpoints; nothing of A's is in B's document.
    expect(JSON.stringify(b.config.serverMetadata())).not.toContain(a.slug);
    const jwks = await fetch(`${base}/d/${a.slug}/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(await jwks.json()).toEqual(await (await fetch(`${base}/v1/domains/${a.id}/jwks.json`)).json());
  });

  it('answers 404 problems for an issuer that is unknown, suspended or malformed', async () => {
    const unknown = await fetch(`${base}/d/oidc-nobody-${process.pid}/.well-known/openid-configuration`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const malformed = await fetch(`${base}/d/NOT_A_SLUG/.well-known/openid-configuration`);
    expect(malformed.status).toBe(400);
    const c = await side('c');
    expect((await operator('POST', `/v1/domains/${c.id}/suspend`)).status).toBe(200);
    for (const path of ['.well-known/openid-configuration', 'jwks.json'])
      expect((await fetch(`${c.issuer}/${path}`)).status, path).toBe(404);
    const token = await post(`/d/${c.slug}/token`, { grant_type: 'client_credentials' });
    expect(token.status).toBe(404);
    expect(await token.json()).toMatchObject({ error: 'invalid_request', code: 'not_found' });
  });

  it('grants client credentials through openid-client: a token with the domain’s issuer URL that verifies', async () => {
    const tokens = await client.clientCredentialsGrant(a.config, { resource: 'https://api.example' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const { payload, protectedHeader } = await jwtVerify(
      tokens.access_token,
      createRemoteJWKSet(new URL(a.config.serverMetadata().jwks_uri!)),
      { issuer: a.issuer, audience: `bulkhead:${a.id}`, typ: 'at+jwt' },
    );
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ dom: a.id, client_id: a.clientId });
    expect(await whoami(tokens.access_token)).toBe(200);
    // The SDK's verifier, configured with the domain's issuer URL, accepts it.
    const verifier = createVerifier({ issuer: a.issuer, jwksUri: `${a.issuer}/jwks.json` });
    await expect(verifier.verify(tokens.access_token, a.id)).resolves.toMatchObject({ domainId: a.id });
    // One with the old issuer only refuses it, so verifiers are moved to the new issuer (or both) first.
    await expect(
      createVerifier({ issuer: legacyIssuer, jwksUri: `${a.issuer}/jwks.json` }).verify(
        tokens.access_token,
        a.id,
      ),
    ).rejects.toThrow();
  });

  it('authenticates clients with client_secret_basic and client_secret_post through oauth4webapi', async () => {
    for (const auth of [oauth.ClientSecretBasic(a.clientSecret), oauth.ClientSecretPost(a.clientSecret)]) {
      const res = await oauth.clientCredentialsGrantRequest(
        a.as,
        { client_id: a.clientId },
        auth,
        {},
        insecure,
      );
      const tokens = await oauth.processClientCredentialsResponse(a.as, { client_id: a.clientId }, res);
      expect(await whoami(tokens.access_token)).toBe(200);
    }
  });

  it('answers OAuth errors the libraries read: invalid_client with WWW-Authenticate, unsupported_grant_type', async () => {
    const wrong = await oauth.clientCredentialsGrantRequest(
      a.as,
      { client_id: a.clientId },
      oauth.ClientSecretBasic('not the secret'),
      {},
      insecure,
    );
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('cache-control')).toBe('no-store');
    // A client that tried HTTP Basic is challenged for it (RFC 6749 §5.2); oauth4webapi reads the challenge.
    const challenged = await oauth
      .processClientCredentialsResponse(a.as, { client_id: a.clientId }, wrong)
      .catch((e: unknown) => e);
    expect(challenged).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((challenged as oauth.WWWAuthenticateChallengeError).cause[0]?.scheme).toBe('basic');
    expect((challenged as oauth.WWWAuthenticateChallengeError).status).toBe(401);
    // One that sent its secret in the form reads invalid_client from the body.
    const posted = await oauth.clientCredentialsGrantRequest(
      a.as,
      { client_id: a.clientId },
      oauth.ClientSecretPost('not the secret'),
      {},
      insecure,
    );
    expect(posted.status).toBe(401);
    const error = await oauth
      .processClientCredentialsResponse(a.as, { client_id: a.clientId }, posted)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    expect((error as oauth.ResponseBodyError).error).toBe('invalid_client');
    // Without any client authentication: challenged too.
    const none = await post(`/d/${a.slug}/token`, { grant_type: 'client_credentials' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await none.json()).toMatchObject({ error: 'invalid_client', code: 'invalid_client' });

    const implicit = await post(`/d/${a.slug}/token`, { grant_type: 'implicit' });
    expect(implicit.status).toBe(400);
    expect(implicit.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await implicit.json()).toMatchObject({ error: 'unsupported_grant_type' });

    const twice = await post(
      `/d/${a.slug}/token`,
      { grant_type: 'client_credentials', client_id: a.clientId, client_secret: a.clientSecret },
      { authorization: `Basic ${Buffer.from(`${a.clientId}:${a.clientSecret}`).toString('base64')}` },
    );
    expect(twice.status).toBe(400);
    expect(await twice.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses B’s client at A’s endpoints as invalid_client, and A’s at B’s', async () => {
    for (const [issuerSide, clientSide] of [
      [a, b],
      [b, a],
    ] as const) {
      const res = await oauth.clientCredentialsGrantRequest(
        issuerSide.as,
        { client_id: clientSide.clientId },
        oauth.ClientSecretBasic(clientSide.clientSecret),
        {},
        insecure,
      );
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_client' });
      const introspect = await post(`/d/${issuerSide.slug}/introspect`, {
        token: 'x',
        client_id: clientSide.clientId,
        client_secret: clientSide.clientSecret,
      });
      expect(introspect.status).toBe(401);
    }
  });

  it('refreshes through openid-client, and refuses A’s refresh token at B’s endpoint without spending it', async () => {
    const first = await passwordGrant(a);
    // At B's endpoint, with B's own client: invalid_grant, read as such by oauth4webapi, and nothing changes.
    const atB = await oauth.refreshTokenGrantRequest(
      b.as,
      { client_id: b.clientId },
      oauth.ClientSecretBasic(b.clientSecret),
      first.refresh_token,
      insecure,
    );
    const error = await oauth
      .processRefreshTokenResponse(b.as, { client_id: b.clientId }, atB)
      .catch((e: unknown) => e);
    expect((error as oauth.ResponseBodyError).error).toBe('invalid_grant');
    expect((error as oauth.ResponseBodyError).status).toBe(400);
    expect(await whoami(first.access_token)).toBe(200);
    // Still unspent: A's endpoint takes it once.
    const refreshed = await client.refreshTokenGrant(a.config, first.refresh_token);
    expect(refreshed.refresh_token).toMatch(/^bhr_/);
    expect(await whoami(refreshed.access_token)).toBe(200);
    // Presented again it is a theft: invalid_grant, and the session is revoked.
    const again = await client.refreshTokenGrant(a.config, first.refresh_token).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(client.ResponseBodyError);
    expect((again as client.ResponseBodyError).error).toBe('invalid_grant');
    expect(await whoami(refreshed.access_token)).toBe(401);
  });

  it('reads invalid_grant from the installation token endpoint too, and ignores unknown parameters there', async () => {
    const first = await passwordGrant(a);
    const legacyAs: oauth.AuthorizationServer = { issuer: base, token_endpoint: `${base}/v1/auth/token` };
    const spend = () =>
      oauth.refreshTokenGrantRequest(legacyAs, { client_id: 'bulkhead' }, oauth.None(), first.refresh_token, {
        ...insecure,
        additionalParameters: { resource: 'https://api.example' },
      });
    const ok = await oauth.processRefreshTokenResponse(legacyAs, { client_id: 'bulkhead' }, await spend());
    expect(ok.access_token).toBeTruthy();
    const reused = await oauth
      .processRefreshTokenResponse(legacyAs, { client_id: 'bulkhead' }, await spend())
      .catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(oauth.ResponseBodyError);
    expect((reused as oauth.ResponseBodyError).error).toBe('invalid_grant');
    // RFC 7009 with client_secret_post's fields: ignored, not 400 unknown_field.
    const revoked = await post('/v1/auth/revoke', {
      token: ok.access_token,
      client_id: a.clientId,
      client_secret: a.clientSecret,
    });
    expect(revoked.status).toBe(200);
    expect(await whoami(ok.access_token)).toBe(401);
  });

  it('introspects through openid-client: active for its own domain’s live token, false for A’s token at B', async () => {
    const { access_token: token } = await passwordGrant(a);
    const own = await client.tokenIntrospection(a.config, token);
    expect(own).toMatchObject({ active: true, iss: a.issuer, dom: a.id, aud: `bulkhead:${a.id}` });
    expect(typeof own.sub).toBe('string');
    const foreign = await client.tokenIntrospection(b.config, token);
    expect(foreign).toEqual({ active: false });
    expect(await client.tokenIntrospection(a.config, 'not.a.token')).toEqual({ active: false });
    // Without client authentication: invalid_client.
    const anonymous = await post(`/d/${a.slug}/introspect`, { token });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await anonymous.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('revokes through openid-client at its own endpoint, and leaves A’s tokens alone at B’s', async () => {
    const { access_token: token, refresh_token: refresh } = await passwordGrant(a);
    await client.tokenRevocation(b.config, token);
    await client.tokenRevocation(b.config, refresh);
    expect(await whoami(token)).toBe(200);
    expect((await client.tokenIntrospection(a.config, token)).active).toBe(true);
    await client.tokenRevocation(a.config, token);
    expect(await whoami(token)).toBe(401);
    expect((await client.tokenIntrospection(a.config, token)).active).toBe(false);
    // B's client credentials at A's revocation endpoint are refused before anything is looked at.
    const { access_token: other } = await passwordGrant(a);
    const res = await post(`/d/${a.slug}/revoke`, {
      token: other,
      client_id: b.clientId,
      client_secret: b.clientSecret,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
    expect(await whoami(other)).toBe(200);
  });

  it('keeps tokens signed with the legacy issuer verifying for one token lifetime after the switch', async () => {
    const row = await services.principals.checkClient(a.clientId as never, a.clientSecret);
    const before = new TokenService({
      store: services.store,
      secret: testSecret,
      signingKeys: services.signingKeys,
      issuers: new Issuers({
        store: services.store,
        publicUrl: undefined,
        legacyIssuer,
        legacyGraceMs: 0,
      }),
      accessTokenSeconds: 120,
      sessionSeconds: 3600,
    });
    try {
      const { access_token: old } = await before.issue({ actor: 'test', requestId: null }, row!, a.clientId);
      // This server started with the public URL moments ago: the old token still works here.
      expect(await whoami(old)).toBe(200);
      // A verifier given both issuers accepts old and new tokens alike during the move.
      const both = createVerifier({ issuer: [legacyIssuer, a.issuer], jwksUri: `${a.issuer}/jwks.json` });
      await expect(both.verify(old, a.id)).resolves.toMatchObject({ domainId: a.id });
      const fresh = await client.clientCredentialsGrant(a.config);
      await expect(both.verify(fresh.access_token, a.id)).resolves.toMatchObject({ domainId: a.id });
    } finally {
      await before.close();
    }
    // Once the grace is over, only the issuer URL is accepted.
    const after = new Issuers({ store: services.store, publicUrl: base, legacyIssuer, legacyGraceMs: 0 });
    expect(after.accepted(a.slug)).toEqual([a.issuer]);
  });
});
