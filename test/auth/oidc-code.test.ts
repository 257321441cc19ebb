// The authorization code flow of each domain's OpenID Provider, on both stores, driven by the clients
// users would pick: openid-client v6 from nothing but the issuer URL (authorization code with PKCE, ID
// token, refresh, userinfo, introspection, revocation, logout) and oauth4webapi (the code grant for a
// confidential and a public client, and the errors it must read). The sign-in page is driven over HTTP
// here as a browser would (its cookie, its form token, its Origin); test/auth/oidc-browser.test.ts drives
// it through Chromium. Every attack the issue lists is made: PKCE downgrade, code replay, redirect URI
// variations, a mix-up between two domains, a missing state, and A's token or person at B.
import { createServer } from 'node:http';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { oidcApp } from '../../examples/oidc-app.js';

const password = 'correct horse battery staple';

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
  email: string;
  clientId: string;
  clientSecret: string;
  publicId: string;
  redirect: string;
  config: client.Configuration;
  as: oauth.AuthorizationServer;
}

/** A browser's cookies, by name (one site). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
  has(prefix: string): boolean {
    return [...this.cookies.keys()].some((n) => n.startsWith(prefix));
  }
}

const field = (html: string, name: string) =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replaceAll('&amp;', '&') ?? '';

describe.each(backends)('the authorization code flow on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let base: string;
  let a: Side;
  let b: Side;
  const insecure = { [oauth.allowInsecureRequests]: true };

  const operator = async (method: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  async function side(label: string): Promise<Side> {
    const slug = `code-${label}-${process.pid}`;
    const { id } = (await (await operator('POST', '/v1/domains', { slug, name: label })).json()) as {
      id: string;
    };
    const email = `${label}-person@example.com`;
    expect(
      (await operator('POST', `/v1/domains/${id}/principals`, { kind: 'user', email, password })).status,
    ).toBe(201);
    const redirect = `http://127.0.0.1:9/${label}/callback`;
    const register = async (body: unknown) => {
      const res = await operator('POST', `/v1/domains/${id}/oauth-clients`, body);
      expect(res.status).toBe(201);
      return (await res.json()) as { clientId: string; clientSecret: string };
    };
    const confidential = await register({
      name: 'web',
      kind: 'confidential',
      // What openid-client uses when it is given a secret and nothing else.
      tokenEndpointAuthMethod: 'client_secret_post',
      redirectUris: [redirect],
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email'],
      allowedOrigins: [`https://app-${label}.example`],
      postLogoutRedirectUris: [redirect],
    });
    const spa = await register({
      name: 'spa',
      kind: 'public',
      redirectUris: [redirect],
      grantTypes: ['authorization_code'],
    });
    const issuer = `${base}/d/${slug}`;
    const config = await client.discovery(
      new URL(issuer),
      confidential.clientId,
      confidential.clientSecret,
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const as = await oauth.processDiscoveryResponse(
      new URL(issuer),
      await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oidc', ...insecure }),
    );
    return {
      id,
      slug,
      issuer,
      email,
      clientId: confidential.clientId,
      clientSecret: confidential.clientSecret,
      publicId: spa.clientId,
      redirect,
      config,
      as,
    };
  }

  /** Opens an authorization URL as a browser: signs in when asked; the redirect it ends with. */
  async function authorize(
    url: URL | string,
    jar = new Jar(),
    credentials: { email: string; password: string } | null = null,
  ): Promise<{ status: number; location: string | null; html: string; jar: Jar }> {
    const first = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(first);
    const html = await first.text();
    if (first.status !== 200 || credentials === null)
      return { status: first.status, location: first.headers.get('location'), html, jar };
    const posted = await fetch(new URL(new URL(url).pathname, base), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: base,
        cookie: jar.header(),
      },
      body: new URLSearchParams({
        csrf: field(html, 'csrf'),
        request: field(html, 'request'),
        email: credentials.email,
        password: credentials.password,
      }).toString(),
    });
    jar.take(posted);
    return {
      status: posted.status,
      location: posted.headers.get('location'),
      html: await posted.text(),
      jar,
    };
  }

  /** An authorization request of openid-client for the side's confidential client. */
  function request(side: Side, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    return client.calculatePKCECodeChallenge(verifier).then((challenge) => ({
      verifier,
      state,
      nonce,
      url: client.buildAuthorizationUrl(side.config, {
        redirect_uri: side.redirect,
        scope: 'openid email',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        nonce,
        ...extra,
      }),
    }));
  }

  const userinfo = (issuer: string, token: string) =>
    fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    services = await openTestServices(backend, { publicUrl: base, accessTokenSeconds: 120 });
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

  it('signs in through openid-client: code + PKCE, ID token, refresh, userinfo, introspection, revocation, logout', async () => {
    const metadata = a.config.serverMetadata();
    expect(metadata.authorization_endpoint).toBe(`${a.issuer}/authorize`);
    expect(metadata.userinfo_endpoint).toBe(`${a.issuer}/userinfo`);
    expect(metadata.end_session_endpoint).toBe(`${a.issuer}/end-session`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    const { verifier, state, nonce, url } = await request(a);
    const page = await authorize(url);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Sign in');
    const signedIn = await authorize(url, page.jar, { email: a.email, password });
    expect(signedIn.status, signedIn.html).toBe(303);
    const callback = new URL(signedIn.location!);
    expect(callback.origin + callback.pathname).toBe(a.redirect);
    expect(callback.searchParams.get('iss')).toBe(a.issuer);
    expect(callback.searchParams.get('state')).toBe(state);
    const tokens = await client.authorizationCodeGrant(a.config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: a.issuer, aud: a.clientId, nonce, email: a.email });
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.at_hash).toBeTypeOf('string');
    const info = await client.fetchUserInfo(a.config, tokens.access_token, claims.sub);
    expect(info).toMatchObject({ sub: claims.sub, email: a.email });
    const introspected = await client.tokenIntrospection(a.config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: claims.sub, client_id: a.clientId });
    const refreshed = await client.refreshTokenGrant(a.config, tokens.refresh_token!);
    expect((await userinfo(a.issuer, refreshed.access_token)).status).toBe(200);
    // The browser is signed in at A's issuer now: a new request is answered with a code at once.
    const again = await request(a);
    const skipped = await authorize(again.url, page.jar);
    expect(skipped.status).toBe(303);
    expect(new URL(skipped.location!).searchParams.get('code')).toMatch(/^bhc_/);
    // RP-initiated logout ends the token session and the browser's session at once.
    const logout = client.buildEndSessionUrl(a.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: a.redirect,
      state: 'bye',
    });
    const out = await fetch(logout, { redirect: 'manual', headers: { cookie: page.jar.header() } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`${a.redirect}?state=bye`);
    page.jar.take(out);
    expect((await userinfo(a.issuer, refreshed.access_token)).status).toBe(401);
    await expect(client.refreshTokenGrant(a.config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const afterLogout = await authorize((await request(a)).url, page.jar);
    expect(afterLogout.status).toBe(200);
    // Revocation through openid-client: a second sign-in's token, revoked, is refused.
    const second = await request(a);
    const signed2 = await authorize(second.url, new Jar(), { email: a.email, password });
    const tokens2 = await client.authorizationCodeGrant(a.config, new URL(signed2.location!), {
      pkceCodeVerifier: second.verifier,
      expectedState: second.state,
      expectedNonce: second.nonce,
    });
    await client.tokenRevocation(a.config, tokens2.access_token);
    expect((await userinfo(a.issuer, tokens2.access_token)).status).toBe(401);
  });

  it('exchanges a public client’s code with PKCE through oauth4webapi, and reads its errors', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const challenge = await oauth.calculatePKCECodeChallenge(verifier);
    const url = new URL(a.as.authorization_endpoint!);
    for (const [k, v] of Object.entries({
      client_id: a.publicId,
      redirect_uri: a.redirect,
      response_type: 'code',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(k, v);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const spa: oauth.Client = { client_id: a.publicId };
    const params = oauth.validateAuthResponse(a.as, spa, new URL(done.location!), oauth.expectNoState);
    // A wrong verifier: invalid_grant, read by the library; the code is spent by the attempt.
    const wrong = await oauth.authorizationCodeGrantRequest(
      a.as,
      spa,
      oauth.None(),
      params,
      a.redirect,
      oauth.generateRandomCodeVerifier(),
      insecure,
    );
    await expect(oauth.processAuthorizationCodeResponse(a.as, spa, wrong)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const done2 = await authorize(url, done.jar);
    const params2 = oauth.validateAuthResponse(a.as, spa, new URL(done2.location!), oauth.expectNoState);
    const ok = await oauth.authorizationCodeGrantRequest(
      a.as,
      spa,
      oauth.None(),
      params2,
      a.redirect,
      verifier,
      insecure,
    );
    const result = await oauth.processAuthorizationCodeResponse(a.as, spa, ok);
    expect(result.access_token).toBeTypeOf('string');
    expect(oauth.getValidatedIdTokenClaims(result)).toMatchObject({ aud: a.publicId, iss: a.issuer });
    // A public client that names another domain's client, or none: invalid_client.
    const stranger = await fetch(`${a.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'bhc_x',
        client_id: b.publicId,
        redirect_uri: a.redirect,
        code_verifier: verifier,
      }),
    });
    expect(stranger.status).toBe(401);
    expect(await stranger.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses a PKCE downgrade: plain, a missing challenge, a missing or wrong verifier', async () => {
    const { url } = await request(a);
    const plain = new URL(url);
    plain.searchParams.set('code_challenge_method', 'plain');
    plain.searchParams.set('code_challenge', 'x'.repeat(43));
    const missing = new URL(url);
    missing.searchParams.delete('code_challenge');
    missing.searchParams.delete('code_challenge_method');
    for (const attempt of [plain, missing]) {
      const res = await authorize(attempt);
      expect(res.status).toBe(303);
      const back = new URL(res.location!);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('iss')).toBe(a.issuer);
      expect(back.searchParams.has('code')).toBe(false);
    }
    const session = await authorize(url, new Jar(), { email: a.email, password });
    for (const verifier of [undefined, 'w'.repeat(43)]) {
      const { url: fresh } = await request(a);
      const got = await authorize(fresh, session.jar);
      const code = new URL(got.location!).searchParams.get('code')!;
      const res = await fetch(`${a.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: a.clientId,
          client_secret: a.clientSecret,
          grant_type: 'authorization_code',
          code,
          redirect_uri: a.redirect,
          ...(verifier === undefined ? {} : { code_verifier: verifier }),
        }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('refuses a code used twice and revokes the tokens it issued', async () => {
    const { verifier, state, nonce, url } = await request(a);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const callback = new URL(done.location!);
    const tokens = await client.authorizationCodeGrant(a.config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(200);
    await expect(
      client.authorizationCodeGrant(a.config, callback, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(401);
    await expect(client.refreshTokenGrant(a.config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    // Codes are kept only as hashes.
    const code = callback.searchParams.get('code')!;
    const rows = await asOwner(services.store, (tx) => tx.selectFrom('oauth_codes').selectAll().execute());
    expect(JSON.stringify(rows)).not.toContain(code);
  });

  it.each([
    ['a prefix', (r: string) => `${r}x`],
    ['a shorter path', (r: string) => r.slice(0, r.lastIndexOf('/'))],
    ['path traversal', (r: string) => `${r}/../../b/callback`],
    ['an extra query', (r: string) => `${r}?next=https://evil.example`],
    ['another scheme', (r: string) => r.replace('http:', 'https:')],
    ['a fragment', (r: string) => `${r}#frag`],
    ['another host', () => 'https://evil.example/callback'],
  ])('refuses a redirect URI with %s on a page, never redirecting', async (_name, change) => {
    const { url } = await request(a);
    const bad = new URL(url);
    bad.searchParams.set('redirect_uri', change(a.redirect));
    const res = await authorize(bad);
    expect(res.status).toBe(400);
    expect(res.location).toBeNull();
    expect(res.html).toContain('invalid_redirect_uri');
  });

  it('keeps two domains apart: mix-up, A’s code at B, A’s token at B’s userinfo, B’s person at A', async () => {
    const { verifier, state, nonce, url } = await request(a);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const callback = new URL(done.location!);
    expect(callback.searchParams.get('iss')).toBe(a.issuer);
    // B's client handed A's response: openid-client sees the issuer is not B's (RFC 9207).
    await expect(
      client.authorizationCodeGrant(b.config, callback, { pkceCodeVerifier: verifier, expectedState: state }),
    ).rejects.toThrow();
    // A's code at B's token endpoint with B's own client: invalid_grant, and A's code is untouched.
    const atB = await fetch(`${b.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: b.clientId,
        client_secret: b.clientSecret,
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        redirect_uri: b.redirect,
        code_verifier: verifier,
      }),
    });
    expect(atB.status).toBe(400);
    expect(await atB.json()).toMatchObject({ error: 'invalid_grant' });
    const tokens = await client.authorizationCodeGrant(a.config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    // A's token at B's userinfo: 401 invalid_token; at A's: 200.
    const foreign = await userinfo(b.issuer, tokens.access_token);
    expect(foreign.status).toBe(401);
    expect(foreign.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(200);
    // A's client at B's authorization endpoint: a page, no redirect.
    const wrongIssuer = new URL(url.href.replace(`/d/${a.slug}/`, `/d/${b.slug}/`));
    const refused = await authorize(wrongIssuer);
    expect(refused.status).toBe(400);
    expect(refused.location).toBeNull();
    // B's person named at A: the hint is only a prefilled field, and B's password signs nobody in.
    const hinted = await request(a, { login_hint: b.email });
    const page = await authorize(hinted.url);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain(b.id);
    const tried = await authorize(hinted.url, page.jar, { email: b.email, password });
    expect(tried.status).toBe(401);
    expect(tried.location).toBeNull();
    expect(tried.html).toContain('The email or the password is not right.');
    const wrongPassword = await authorize(hinted.url, new Jar(), {
      email: a.email,
      password: 'nope nope nope',
    });
    expect(wrongPassword.status).toBe(401);
    expect(wrongPassword.html).toContain('The email or the password is not right.');
  });

  it('passes a missing state through as missing, and refuses forms without the page’s token or Origin', async () => {
    const { url } = await request(a);
    const stateless = new URL(url);
    stateless.searchParams.delete('state');
    const done = await authorize(stateless, new Jar(), { email: a.email, password });
    const back = new URL(done.location!);
    expect(back.searchParams.has('state')).toBe(false);
    expect(back.searchParams.get('code')).toMatch(/^bhc_/);
    const page = await authorize(url);
    for (const headers of [{ origin: 'https://evil.example' }, {}]) {
      const res = await fetch(`${a.issuer}/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: page.jar.header(),
          ...headers,
        },
        body: new URLSearchParams({
          csrf: field(page.html, 'csrf'),
          request: field(page.html, 'request'),
          email: a.email,
          password,
        }),
      });
      expect(res.status).toBe(403);
    }
    // prompt=none without a session: login_required, back at the client.
    const none = await authorize((await request(a, { prompt: 'none' })).url);
    expect(new URL(none.location!).searchParams.get('error')).toBe('login_required');
    // The sign-in page's CSP carries a nonce and allows the form to go only here and to the client.
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.headers.get('content-security-policy')).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:9;/);
  });

  it('ends nothing for a logout without a valid hint, and never redirects to an unregistered URI', async () => {
    const { verifier, state, nonce, url } = await request(a);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const tokens = await client.authorizationCodeGrant(a.config, new URL(done.location!), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const attempts = [
      `${a.issuer}/end-session`,
      `${a.issuer}/end-session?id_token_hint=${tokens.id_token!.slice(0, -4)}AAAA`,
      `${b.issuer}/end-session?id_token_hint=${tokens.id_token!}`,
      `${a.issuer}/end-session?id_token_hint=${tokens.id_token!}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
    ];
    for (const attempt of attempts) {
      const res = await fetch(attempt, { redirect: 'manual' });
      expect(res.status, attempt).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(200);
  });

  it('ends the issuer session that authorized the tokens at end-session without its cookie, and nothing of B', async () => {
    const signInAt = async (side: Side) => {
      const { verifier, state, nonce, url } = await request(side);
      const done = await authorize(url, new Jar(), { email: side.email, password });
      const tokens = await client.authorizationCodeGrant(side.config, new URL(done.location!), {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
      });
      return { jar: done.jar, tokens };
    };
    /** Whether the browser behind `jar` is still signed in at `side`'s issuer (a code without asking). */
    const signedIn = async (side: Side, jar: Jar) => {
      const res = await authorize((await request(side)).url, jar);
      return res.status === 303 && new URL(res.location!).searchParams.get('code') !== null;
    };
    const atA = await signInAt(a);
    const atB = await signInAt(b);
    expect(await signedIn(a, atA.jar)).toBe(true);
    // A's ID token at B's end-session, with no cookie and with B's: nothing of B or of A ends.
    for (const cookie of ['', atB.jar.header()]) {
      const refused = await fetch(`${b.issuer}/end-session?id_token_hint=${atA.tokens.id_token!}`, {
        redirect: 'manual',
        headers: { cookie },
      });
      expect(refused.status).toBe(400);
      expect(refused.headers.getSetCookie()).toEqual([]);
    }
    expect(await signedIn(b, atB.jar)).toBe(true);
    expect(await signedIn(a, atA.jar)).toBe(true);
    expect((await userinfo(b.issuer, atB.tokens.access_token)).status).toBe(200);
    expect((await userinfo(a.issuer, atA.tokens.access_token)).status).toBe(200);
    // A's own end-session, without the issuer's cookie: the token session and the browser session that
    // authorized it end; B's are untouched.
    const out = await fetch(`${a.issuer}/end-session?id_token_hint=${atA.tokens.id_token!}`, {
      redirect: 'manual',
    });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie()).toEqual([]);
    expect((await userinfo(a.issuer, atA.tokens.access_token)).status).toBe(401);
    const afterLogout = await authorize((await request(a)).url, atA.jar);
    expect(afterLogout.status).toBe(200);
    expect(afterLogout.html).toContain('Sign in');
    expect(await signedIn(b, atB.jar)).toBe(true);
    expect((await userinfo(b.issuer, atB.tokens.access_token)).status).toBe(200);
  });

  it('refreshes a code flow’s refresh token for its own client only, its tokens carrying that client', async () => {
    const { verifier, state, nonce, url } = await request(a);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const tokens = await client.authorizationCodeGrant(a.config, new URL(done.location!), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const clientOf = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { client_id: string })
        .client_id;
    expect(clientOf(tokens.access_token)).toBe(a.clientId);
    // Another client of the same domain, authenticated as it registered, and no client at all.
    const other = (await (
      await operator('POST', `/v1/domains/${a.id}/oauth-clients`, {
        name: 'other',
        kind: 'confidential',
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [a.redirect],
        grantTypes: ['authorization_code', 'refresh_token'],
      })
    ).json()) as { clientId: string; clientSecret: string };
    const refreshAs = (fields: Record<string, string>) =>
      fetch(`${a.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token!,
          ...fields,
        }).toString(),
      });
    for (const fields of [
      { client_id: other.clientId, client_secret: other.clientSecret },
      { client_id: a.publicId },
      {},
    ]) {
      const res = await refreshAs(fields);
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    }
    const legacy = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
    });
    expect(legacy.status).toBe(400);
    // Nothing was spent by those attempts: its own client refreshes it, and the new tokens are its.
    const refreshed = await client.refreshTokenGrant(a.config, tokens.refresh_token!);
    expect(clientOf(refreshed.access_token)).toBe(a.clientId);
    expect(await client.tokenIntrospection(a.config, refreshed.access_token)).toMatchObject({
      active: true,
      client_id: a.clientId,
    });
    const again = await refreshAs({ client_id: other.clientId, client_secret: other.clientSecret });
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await client.refreshTokenGrant(a.config, refreshed.refresh_token!)).access_token).toBeTypeOf(
      'string',
    );
  });

  it('returns from end-session only to a post-logout URI the client registered, exactly, with state', async () => {
    const res = await operator('POST', `/v1/domains/${a.id}/oauth-clients`, {
      name: 'logout',
      kind: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_post',
      redirectUris: [a.redirect],
      postLogoutRedirectUris: ['https://app-a.example/signed-out'],
      grantTypes: ['authorization_code'],
    });
    expect(res.status).toBe(201);
    const registered = (await res.json()) as {
      clientId: string;
      clientSecret: string;
      postLogoutRedirectUris: string[];
    };
    expect(registered.postLogoutRedirectUris).toEqual(['https://app-a.example/signed-out']);
    const config = await client.discovery(
      new URL(a.issuer),
      registered.clientId,
      registered.clientSecret,
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const signIn = async () => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: a.redirect,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const done = await authorize(url, new Jar(), { email: a.email, password });
      return client.authorizationCodeGrant(config, new URL(done.location!), {
        pkceCodeVerifier: verifier,
        expectedState: state,
      });
    };
    const tokens = await signIn();
    // A redirect URI is not a post-logout URI; nor is a variation of the registered one.
    for (const target of [
      a.redirect,
      'https://app-a.example/signed-out/',
      'https://app-a.example/signed-out?x=1',
      'https://app-a.example/signed-outx',
      'http://app-a.example/signed-out',
      'https://app-a.example/signed-out#f',
    ]) {
      const refused = await fetch(
        client.buildEndSessionUrl(config, {
          id_token_hint: tokens.id_token!,
          post_logout_redirect_uri: target,
          state: 's',
        }),
        { redirect: 'manual' },
      );
      expect(refused.status, target).toBe(400);
      expect(refused.headers.get('location')).toBeNull();
      expect(await refused.text()).toContain('post_logout_redirect_uri is not one of the addresses');
    }
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(200);
    const out = await fetch(
      client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: 'https://app-a.example/signed-out',
        state: 'bye now',
      }),
      { redirect: 'manual' },
    );
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('https://app-a.example/signed-out?state=bye+now');
    expect((await userinfo(a.issuer, tokens.access_token)).status).toBe(401);
    // Registering one is held to a redirect URI's rules.
    const bad = await operator('POST', `/v1/domains/${a.id}/oauth-clients`, {
      name: 'bad',
      kind: 'public',
      redirectUris: [a.redirect],
      postLogoutRedirectUris: ['http://app-a.example/out'],
      grantTypes: ['authorization_code'],
    });
    expect(bad.status).toBe(400);
  });

  it('answers CORS on token and userinfo for the client’s own origins, on discovery and keys for all, nowhere else', async () => {
    const appA = 'https://app-a.example';
    const preflight = (path: string, origin: string) =>
      fetch(`${base}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    const ok = await preflight(`/d/${a.slug}/token`, appA);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(appA);
    expect(ok.headers.get('access-control-allow-methods')).toBe('POST');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    // B's client's origin at A's endpoints, an origin nobody registered, and what is no origin at all
    // (another spelling of A's, with a path, `null`): no CORS.
    for (const origin of [
      'https://app-b.example',
      'https://evil.example',
      'HTTPS://APP-A.EXAMPLE',
      `${appA}/`,
      'null',
    ]) {
      for (const path of [`/d/${a.slug}/token`, `/d/${a.slug}/userinfo`])
        expect((await preflight(path, origin)).headers.get('access-control-allow-origin'), path).toBeNull();
    }
    // An Origin with characters no header may carry (only a client that is no browser sends one): refused
    // quietly, never a 500.
    for (const path of [`/d/${a.slug}/token`, `/d/${a.slug}/userinfo`]) {
      const odd = await app.inject({ method: 'OPTIONS', url: path, headers: { origin: 'a\ud800' } });
      expect(odd.statusCode, path).toBe(204);
      expect(odd.headers['access-control-allow-origin'], path).toBeUndefined();
    }
    // The token endpoint's answer, an error included, is readable by the client's own origin only.
    const tokenAt = (clientId: string, origin: string) =>
      fetch(`${a.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'bhc_nothing',
          client_id: clientId,
          client_secret: a.clientSecret,
          redirect_uri: a.redirect,
          code_verifier: 'v'.repeat(43),
        }),
      });
    const mine = await tokenAt(a.clientId, appA);
    expect(await mine.json()).toMatchObject({ error: 'invalid_grant' });
    expect(mine.headers.get('access-control-allow-origin')).toBe(appA);
    expect(
      (await tokenAt(a.clientId, 'https://evil.example')).headers.get('access-control-allow-origin'),
    ).toBeNull();
    expect((await tokenAt(a.publicId, appA)).headers.get('access-control-allow-origin')).toBeNull();
    // Userinfo: for the token's client's origin.
    const { verifier, state, nonce, url } = await request(a);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const tokens = await client.authorizationCodeGrant(a.config, new URL(done.location!), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const info = await fetch(`${a.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}`, origin: appA },
    });
    expect(info.status).toBe(200);
    expect(info.headers.get('access-control-allow-origin')).toBe(appA);
    // Discovery and keys: public.
    for (const path of ['.well-known/openid-configuration', 'jwks.json'])
      expect(
        (await fetch(`${a.issuer}/${path}`, { headers: { origin: appA } })).headers.get(
          'access-control-allow-origin',
        ),
      ).toBe('*');
    // Nowhere else, even for an allowed origin.
    const elsewhere: [string, string][] = [
      ['POST', `/d/${a.slug}/introspect`],
      ['POST', `/d/${a.slug}/revoke`],
      ['GET', `/d/${a.slug}/authorize?client_id=${a.clientId}`],
      ['GET', `/d/${a.slug}/end-session`],
      ['POST', '/v1/auth/token'],
      ['GET', '/v1/whoami'],
      ['OPTIONS', '/v1/auth/token'],
      ['OPTIONS', `/d/${a.slug}/introspect`],
    ];
    for (const [method, path] of elsewhere) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          origin: appA,
          ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(method === 'POST' ? { body: 'token=x' } : {}),
      });
      expect(res.headers.get('access-control-allow-origin'), `${method} ${path}`).toBeNull();
    }
  });

  it('authenticates a private_key_jwt client (RFC 7523) through oauth4webapi, each assertion once', async () => {
    const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' };
    const register = (body: Record<string, unknown>) =>
      operator('POST', `/v1/domains/${a.id}/oauth-clients`, {
        name: 'signed',
        kind: 'confidential',
        redirectUris: [a.redirect],
        grantTypes: ['authorization_code'],
        ...body,
      });
    // A private key, no keys, or keys without the method: refused, nothing registered.
    const priv = await exportJWK(privateKey);
    for (const body of [
      { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [priv] } },
      { tokenEndpointAuthMethod: 'private_key_jwt' },
      { tokenEndpointAuthMethod: 'client_secret_post', jwks: { keys: [jwk] } },
    ])
      expect((await register(body)).status).toBe(400);
    const created = await register({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
    expect(created.status).toBe(201);
    const { clientId, clientSecret } = (await created.json()) as { clientId: string; clientSecret?: string };
    expect(clientSecret).toBeUndefined();
    // The code grant through oauth4webapi's PrivateKeyJwt.
    const me: oauth.Client = { client_id: clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(a.as.authorization_endpoint!);
    for (const [k, v] of Object.entries({
      client_id: clientId,
      redirect_uri: a.redirect,
      response_type: 'code',
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(k, v);
    const done = await authorize(url, new Jar(), { email: a.email, password });
    const params = oauth.validateAuthResponse(a.as, me, new URL(done.location!), oauth.expectNoState);
    const auth = oauth.PrivateKeyJwt({ key: privateKey, kid: 'k1' });
    const res = await oauth.authorizationCodeGrantRequest(
      a.as,
      me,
      auth,
      params,
      a.redirect,
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(a.as, me, res);
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({ aud: clientId });
    // Hand-made assertions at A's introspection endpoint: one good, then each flaw alone.
    const assertion = async (
      claims: { iss?: string; sub?: string; aud?: string; exp?: number; jti?: string },
      key = privateKey,
    ) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
        .setIssuer(claims.iss ?? clientId)
        .setSubject(claims.sub ?? clientId)
        .setAudience(claims.aud ?? `${a.issuer}/token`)
        .setJti(claims.jti ?? crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 60)
        .sign(key);
    const introspect = (issuer: string, signed: string) =>
      fetch(`${issuer}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: tokens.access_token,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: signed,
        }),
      });
    const once = await assertion({ jti: 'once' });
    const first = await introspect(a.issuer, once);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ active: true });
    const other = (await generateKeyPair('Ed25519')).privateKey;
    const flawed = [
      once, // replayed jti
      await assertion({ aud: `${b.issuer}/token` }),
      await assertion({ aud: 'https://elsewhere.example/token' }),
      await assertion({ iss: a.clientId }),
      await assertion({ sub: a.publicId }),
      await assertion({ exp: Math.floor(Date.now() / 1000) - 120 }),
      await assertion({ exp: Math.floor(Date.now() / 1000) + 3600 }),
      await assertion({}, other),
    ];
    for (const [i, signed] of flawed.entries()) {
      const refused = await introspect(a.issuer, signed);
      expect(refused.status, `assertion ${i}`).toBe(401);
      expect(await refused.json()).toMatchObject({ error: 'invalid_client' });
    }
    // A's client's good assertion at B's endpoint: invalid_client, B's client is not A's.
    const atB = await introspect(b.issuer, await assertion({ aud: `${b.issuer}/token` }));
    expect(atB.status).toBe(401);
    expect(b.config.serverMetadata().token_endpoint_auth_methods_supported).toContain('private_key_jwt');
  });

  it('signs in to the example app (examples/oidc-app.ts) and out again', async () => {
    const appPort = await freePort();
    const appUrl = `http://127.0.0.1:${appPort}`;
    const res = await operator('POST', `/v1/domains/${a.id}/oauth-clients`, {
      name: 'example',
      kind: 'confidential',
      redirectUris: [`${appUrl}/callback`],
      postLogoutRedirectUris: [`${appUrl}/callback`],
      grantTypes: ['authorization_code'],
    });
    const registered = (await res.json()) as { clientId: string; clientSecret: string };
    const server = await oidcApp({ issuer: a.issuer, ...registered, appUrl, insecure: true });
    await new Promise<void>((resolve) => server.listen(appPort, '127.0.0.1', resolve));
    try {
      const appJar = new Jar();
      const login = await fetch(`${appUrl}/login`, { redirect: 'manual' });
      appJar.take(login);
      const done = await authorize(login.headers.get('location')!, new Jar(), { email: a.email, password });
      const callback = await fetch(done.location!, {
        redirect: 'manual',
        headers: { cookie: appJar.header() },
      });
      expect(callback.status, await callback.clone().text()).toBe(303);
      const home = await fetch(`${appUrl}/`, { headers: { cookie: appJar.header() } });
      expect(await home.text()).toContain(`Signed in as ${a.email}`);
      const logout = await fetch(`${appUrl}/logout`, {
        redirect: 'manual',
        headers: { cookie: appJar.header() },
      });
      expect(logout.headers.get('location')).toMatch(new RegExp(`^${a.issuer}/end-session\\?`));
      const ended = await fetch(logout.headers.get('location')!, { redirect: 'manual' });
      expect(ended.headers.get('location')).toBe(`${appUrl}/callback`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
