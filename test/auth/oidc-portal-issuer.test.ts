// A portal host is an issuer of its domain: `https://<host>`, discovered there by openid-client with
// nothing but that URL, on both stores. openid-client talks to the app through inject() with the host a
// browser would send (its customFetch), so the host's TLS is not needed here (oidc-portal-browser.test.ts
// runs the browser's part in Chromium over TLS). Every flow runs against
// the portal host's issuer and every token it signs carries that `iss`; the control plane's API and an
// SDK verifier told both issuers accept it, one told only the path issuer does not (the migration of
// docs/identity.md). Across two domains with portals, nothing of A's works at B's portal host: not A's
// client, token, refresh token, code, ID token hint or portal session, and not a token of A's claiming
// B's portal host as its issuer.
import * as client from 'openid-client';
import { createLocalJWKSet, decodeJwt, SignJWT, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '@bulkhead/sdk';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { fetchThrough } from '../helpers/inject-fetch.js';
import { createPortalTenant, signIn, type PortalTenant } from '../helpers/portal.js';
import type { TestProviders } from '../helpers/providers.js';

const publicUrl = 'https://bulkhead-portal-issuer.test';
const controlHost = 'bulkhead-portal-issuer.test';

interface Side extends PortalTenant {
  slug: string;
  /** The path issuer, `<public URL>/d/<slug>`, and the portal host's, `https://<host>`. */
  pathIssuer: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirect: string;
  config: client.Configuration;
}

describe.each(backends)('a portal host as its domain’s issuer on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Side;
  let b: Side;
  const tag = `${backend.name}-${process.pid}`;

  async function side(label: string): Promise<Side> {
    const slug = `pi-${label}-${tag}`;
    const tenant = await createPortalTenant(app, operatorToken, {
      slug,
      host: `login.${label}-${tag}.test`,
      displayName: `Portal ${label}`,
      color: '#224466',
    });
    const redirect = `https://app-${label}.example/callback`;
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${tenant.id}/oauth-clients`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: {
        name: 'web',
        kind: 'confidential',
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [redirect],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid', 'email'],
        postLogoutRedirectUris: [redirect],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const { clientId, clientSecret } = res.json<{ clientId: string; clientSecret: string }>();
    const issuer = `https://${tenant.host}`;
    const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
      [client.customFetch]: fetchThrough(app),
    });
    return {
      ...tenant,
      slug,
      pathIssuer: `${publicUrl}/d/${slug}`,
      issuer,
      clientId,
      clientSecret,
      redirect,
      config,
    };
  }

  const inject = (host: string, url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers: { host, ...headers } });

  /** A's code flow at `side`'s portal host with the portal session behind `cookie`; the redirect it ends with. */
  async function authorize(side: Side, cookie: string, config = side.config) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: side.redirect,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const res = await inject(url.host, `${url.pathname}${url.search}`, { cookie });
    return { res, verifier, state, nonce, url };
  }

  /** Tokens of `side`'s person through the portal host's issuer. */
  async function tokensOf(side: Side) {
    const { cookie } = await signIn(app, side.host, side.email);
    const { res, verifier, state, nonce } = await authorize(side, cookie!);
    expect(res.statusCode, res.body).toBe(303);
    const tokens = await client.authorizationCodeGrant(side.config, new URL(res.headers.location as string), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    return { tokens, cookie: cookie! };
  }

  const form = (host: string, url: string, body: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url,
      headers: { host, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(body).toString(),
    });

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, { publicUrl }));
    a = await side('a');
    b = await side('b');
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('is discovered at the host with every endpoint at the host, and signs every flow with its own iss', async () => {
    const metadata = a.config.serverMetadata();
    expect(metadata.issuer).toBe(a.issuer);
    for (const name of [
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'introspection_endpoint',
      'revocation_endpoint',
      'end_session_endpoint',
      'jwks_uri',
    ] as const)
      expect(new URL(metadata[name] as string).origin, name).toBe(a.issuer);
    const rfc8414 = await inject(a.host, '/.well-known/oauth-authorization-server');
    expect(rfc8414.json<{ issuer: string }>().issuer).toBe(a.issuer);

    const { tokens } = await tokensOf(a);
    expect(tokens.claims()!.iss).toBe(a.issuer);
    expect(decodeJwt(tokens.access_token).iss).toBe(a.issuer);
    const info = await client.fetchUserInfo(a.config, tokens.access_token, tokens.claims()!.sub);
    expect(info.email).toBe(a.email);
    const introspected = await client.tokenIntrospection(a.config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, iss: a.issuer });
    const refreshed = await client.refreshTokenGrant(a.config, tokens.refresh_token!);
    expect(decodeJwt(refreshed.access_token).iss).toBe(a.issuer);

    // The control plane's API takes the portal issuer's token as the domain's.
    const whoami = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { host: controlHost, authorization: `Bearer ${refreshed.access_token}` },
    });
    expect(whoami.statusCode, whoami.body).toBe(200);
    expect(whoami.json<{ domainId: string }>().domainId).toBe(a.id);

    await client.tokenRevocation(a.config, refreshed.refresh_token!);
    await expect(client.refreshTokenGrant(a.config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('hands a person without a portal session to the portal’s sign-in page and back to the host’s issuer', async () => {
    const { res } = await authorize(a, '');
    expect(res.statusCode).toBe(303);
    const signInUrl = new URL(res.headers.location as string, a.issuer);
    expect(signInUrl.pathname).toBe('/sign-in');
    const next = signInUrl.searchParams.get('next')!;
    expect(next.startsWith('/authorize?')).toBe(true);
    // The sign-in page lets its form lead on to A's client: the request is the host issuer's.
    const page = await inject(a.host, `/sign-in?next=${encodeURIComponent(next)}`);
    expect(page.headers['content-security-policy']).toContain(`form-action 'self' https://app-a.example;`);
    const { cookie, res: signedIn } = await signIn(app, a.host, a.email, undefined, next);
    expect(signedIn.headers.location).toBe(next);
    const back = await inject(a.host, next, { cookie: cookie! });
    const location = new URL(back.headers.location as string);
    expect(location.origin + location.pathname).toBe(a.redirect);
    expect(location.searchParams.get('iss')).toBe(a.issuer);
    expect(location.searchParams.get('code')).toMatch(/^bhc_/);
  });

  it('ends the session at the host’s end-session endpoint', async () => {
    const { tokens, cookie } = await tokensOf(a);
    expect((await inject(a.host, '/', { cookie })).statusCode).toBe(200);
    const url = client.buildEndSessionUrl(a.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: a.redirect,
      state: 'bye',
    });
    const res = await inject(url.host, `${url.pathname}${url.search}`, { cookie });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(`${a.redirect}?state=bye`);
    const info = await app.inject({
      method: 'GET',
      url: '/userinfo',
      headers: { host: a.host, authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.statusCode).toBe(401);
    // The portal session that authorized the tokens has ended too.
    expect((await inject(a.host, '/', { cookie })).statusCode).toBe(401);
  });

  it('takes tokens of both issuers of the domain in an SDK verifier told both, and only then', async () => {
    const jwks = (await inject(a.host, '/jwks.json')).json<JSONWebKeySet>();
    expect(jwks).toEqual((await inject(controlHost, `/d/${a.slug}/jwks.json`)).json());
    const keySet = createLocalJWKSet(jwks);
    const { tokens: portal } = await tokensOf(a);
    const path = await form(controlHost, `/d/${a.slug}/token`, {
      grant_type: 'refresh_token',
      refresh_token: portal.refresh_token!,
      client_id: a.clientId,
      client_secret: a.clientSecret,
    });
    expect(path.statusCode, path.body).toBe(200);
    const pathToken = path.json<{ access_token: string }>().access_token;
    expect(decodeJwt(pathToken).iss).toBe(a.pathIssuer);

    const both = createVerifier({
      issuer: [a.pathIssuer, a.issuer],
      jwksUri: `${a.issuer}/jwks.json`,
      keySet,
    });
    expect((await both.verify(portal.access_token, a.id)).domainId).toBe(a.id);
    expect((await both.verify(pathToken, a.id)).domainId).toBe(a.id);
    const pathOnly = createVerifier({ issuer: a.pathIssuer, jwksUri: `${a.issuer}/jwks.json`, keySet });
    expect((await pathOnly.verify(pathToken, a.id)).domainId).toBe(a.id);
    await expect(pathOnly.verify(portal.access_token, a.id)).rejects.toThrow();
  });

  it('gives nothing of A at B’s portal host: A’s token, client, refresh token, code and session', async () => {
    const { tokens, cookie } = await tokensOf(a);
    const unknownToken = `${tokens.access_token.slice(0, -4)}AAAA`;

    // A's token at B's userinfo: 401 as a token that does not verify.
    for (const token of [tokens.access_token, unknownToken]) {
      const info = await app.inject({
        method: 'GET',
        url: '/userinfo',
        headers: { host: b.host, authorization: `Bearer ${token}` },
      });
      expect(info.statusCode).toBe(401);
    }
    // B's client introspecting A's token at B's host: inactive.
    const introspected = await form(b.host, '/introspect', {
      token: tokens.access_token,
      client_id: b.clientId,
      client_secret: b.clientSecret,
    });
    expect(introspected.json()).toEqual({ active: false });
    // A's client at B's token endpoint, as a client that does not exist.
    const asA = await form(b.host, '/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      client_id: a.clientId,
      client_secret: a.clientSecret,
    });
    expect(asA.statusCode).toBe(401);
    expect(asA.json()).toMatchObject({ error: 'invalid_client' });
    // A's refresh token with B's client: refused, and not spent.
    const withB = await form(b.host, '/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      client_id: b.clientId,
      client_secret: b.clientSecret,
    });
    expect(withB.statusCode).toBe(400);
    expect(withB.json()).toMatchObject({ error: 'invalid_grant' });
    // B's revocation endpoint leaves A's tokens alone.
    const revoked = await form(b.host, '/revoke', {
      token: tokens.refresh_token!,
      client_id: b.clientId,
      client_secret: b.clientSecret,
    });
    expect(revoked.statusCode).toBe(200);
    const stillA = await client.refreshTokenGrant(a.config, tokens.refresh_token!);
    expect(decodeJwt(stillA.access_token).iss).toBe(a.issuer);

    // A's code, redeemed at B's host with B's client: invalid_grant.
    const flow = await authorize(a, cookie);
    const code = new URL(flow.res.headers.location as string).searchParams.get('code')!;
    const redeemed = await form(b.host, '/token', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: b.redirect,
      code_verifier: flow.verifier,
      client_id: b.clientId,
      client_secret: b.clientSecret,
    });
    expect(redeemed.json()).toMatchObject({ error: 'invalid_grant' });

    // A's client at B's authorization endpoint: a page, never a redirect to A's client.
    const foreignClient = await authorize(b, cookie, a.config);
    expect(foreignClient.url.host).toBe(a.host);
    const atB = await inject(b.host, `${foreignClient.url.pathname}${foreignClient.url.search}`, { cookie });
    expect(atB.statusCode).toBe(400);
    expect(atB.headers.location).toBeUndefined();
    // A's portal session at B's host with B's client: B's sign-in page, no code.
    const crossed = await authorize(b, cookie);
    expect(crossed.res.statusCode).toBe(303);
    expect(crossed.res.headers.location).toMatch(/^\/sign-in\?next=/);

    // A's ID token as a hint at B's end-session: nothing ends.
    const hint = await inject(b.host, `/end-session?id_token_hint=${tokens.id_token!}`);
    expect(hint.statusCode).toBe(400);
    const info = await client.fetchUserInfo(a.config, stillA.access_token, tokens.claims()!.sub);
    expect(info.sub).toBe(tokens.claims()!.sub);
  });

  it('refuses a token of A that names B’s portal host, or a host of no domain, as its issuer', async () => {
    const { tokens } = await tokensOf(a);
    const claims = decodeJwt(tokens.access_token);
    const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0]!, 'base64url').toString()) as {
      kid: string;
    };
    const key = await services.signingKeys.current(a.id);
    expect(key.kid).toBe(header.kid);
    const signed = (iss: string) =>
      new SignJWT({ ...claims, iss })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid })
        .sign(key.privateKey);
    const control = await signed(a.issuer);
    const whoami = (token: string) =>
      app.inject({
        method: 'GET',
        url: '/v1/whoami',
        headers: { host: controlHost, authorization: `Bearer ${token}` },
      });
    // The same claims re-signed with A's own issuer verify, so the refusals below are the issuer's.
    expect((await whoami(control)).statusCode).toBe(200);
    for (const iss of [b.issuer, 'https://nobody.example', `https://${a.host.toUpperCase()}`, `${a.issuer}/`])
      expect((await whoami(await signed(iss))).statusCode, iss).toBe(401);
  });

  it('is no issuer at the control plane’s host, an unknown host, or the host of a suspended domain', async () => {
    for (const host of [controlHost, 'nobody.example', '127.0.0.1'])
      for (const path of ['/.well-known/openid-configuration', '/jwks.json', '/authorize'])
        expect((await inject(host, path)).statusCode, `${host}${path}`).toBe(404);
    const suspended = await side('c');
    const off = await app.inject({
      method: 'POST',
      url: `/v1/domains/${suspended.id}/suspend`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(off.statusCode, off.body).toBe(200);
    // The portal's site is kept a few seconds in this process; a fresh read finds the domain suspended.
    await new Promise((r) => setTimeout(r, 5100));
    expect((await inject(suspended.host, '/.well-known/openid-configuration')).statusCode).toBe(404);
  });
});

describe('a portal host’s issuer beside a public URL with a port', () => {
  it('carries the port in its issuer, its endpoints and the hand-off to it', async () => {
    const withPort = 'https://control-port.test:8443';
    const { providers, services, app } = await openProvidedApi(backends[0]!, { publicUrl: withPort });
    try {
      const slug = `pi-port-${process.pid}`;
      const tenant = await createPortalTenant(app, operatorToken, {
        slug,
        host: `login.port-${process.pid}.test`,
        displayName: 'Port',
        color: '#224466',
      });
      const origin = `https://${tenant.host}:8443`;
      const doc = await app.inject({
        method: 'GET',
        url: '/.well-known/openid-configuration',
        headers: { host: `${tenant.host}:8443` },
      });
      expect(doc.json()).toMatchObject({ issuer: origin, token_endpoint: `${origin}/token` });
      // The control plane hands a browser on to the portal host at the same port.
      const client = await app.inject({
        method: 'POST',
        url: `/v1/domains/${tenant.id}/oauth-clients`,
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: {
          name: 'spa',
          kind: 'public',
          redirectUris: ['https://app.example/cb'],
          grantTypes: ['authorization_code'],
        },
      });
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: client.json<{ clientId: string }>().clientId,
        redirect_uri: 'https://app.example/cb',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      });
      const path = `/d/${slug}/authorize?${query.toString()}`;
      const handed = await app.inject({
        method: 'GET',
        url: path,
        headers: { host: 'control-port.test:8443' },
      });
      expect(handed.headers.location).toBe(`${origin}${path}`);
      // A token naming the host with the port is the domain's; the host without it names no issuer.
      const person = await services.store.withDomain(tenant.id, (tx) =>
        tx.selectFrom('principals').selectAll().where('kind', '=', 'user').executeTakeFirstOrThrow(),
      );
      const signed = async (issuer: string) =>
        (await services.tokens.issue({ actor: 'test', requestId: null }, person, 'test', { issuer }))
          .access_token;
      expect((await services.tokens.verify(await signed(origin))).domainId).toBe(tenant.id);
      await expect(services.tokens.verify(await signed(`https://${tenant.host}`))).rejects.toThrow();
    } finally {
      await app.close();
      await services.drop();
      providers.remove();
    }
  });
});
