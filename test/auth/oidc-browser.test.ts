// The authorization code flow through a real Chromium, as a person meets it: openid-client (from the
// issuer URL alone) builds the request, the browser signs in on the issuer's page and is sent back to the
// client's callback, the code is exchanged with PKCE, a second request is answered at once while the
// issuer's session lives, and RP-initiated logout ends it. The store does not matter to what the browser
// sees (test/auth/oidc-code.test.ts runs the flow on both), so this runs on PGlite.
import { createServer, type Server } from 'node:http';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { launchBrowser } from '../helpers/browser.js';

const password = 'correct horse battery staple';

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('the authorization code flow in Chromium', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let browser: Browser;
  let page: Page;
  let callbackServer: Server;
  let redirect: string;
  let config: client.Configuration;
  let issuer: string;
  const violations: string[] = [];

  beforeAll(async () => {
    callbackServer = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('back'),
    );
    redirect = `http://127.0.0.1:${await listening(callbackServer)}/callback`;
    const probe = createServer();
    const port = await listening(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const base = `http://127.0.0.1:${port}`;
    services = await openTestServices(backends[0]!, { publicUrl: base });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    await app.listen({ port, host: '127.0.0.1' });
    const operator = async (path: string, body: unknown) =>
      (
        await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json() as Promise<Record<string, string>>;
    const slug = `browser-${process.pid}`;
    const { id } = await operator('/v1/domains', { slug, name: 'Browser' });
    await operator(`/v1/domains/${id}/principals`, { kind: 'user', email: 'ada@example.com', password });
    const registered = await operator(`/v1/domains/${id}/oauth-clients`, {
      name: 'web',
      kind: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_post',
      redirectUris: [redirect],
      postLogoutRedirectUris: [redirect],
      grantTypes: ['authorization_code', 'refresh_token'],
    });
    issuer = `${base}/d/${slug}`;
    config = await client.discovery(
      new URL(issuer),
      registered.clientId!,
      registered.clientSecret,
      undefined,
      {
        execute: [client.allowInsecureRequests],
      },
    );
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await services?.drop();
    callbackServer?.close();
  });

  async function start() {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { verifier, state, nonce, url };
  }

  it('signs in on the issuer’s page, exchanges the code, skips the page while signed in, and logs out', async () => {
    const first = await start();
    await page.goto(first.url.href);
    await expect(page.getByRole('heading', { name: 'Sign in' }).count()).resolves.toBe(1);
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(
      'The email or the password is not right.',
    );
    await page.getByLabel('Password').fill(password);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirect)),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    const callback = new URL(page.url());
    expect(callback.searchParams.get('iss')).toBe(issuer);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: first.verifier,
      expectedState: first.state,
      expectedNonce: first.nonce,
      idTokenExpected: true,
    });
    const sub = tokens.claims()!.sub;
    expect(await client.fetchUserInfo(config, tokens.access_token, sub)).toMatchObject({ sub });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(await client.tokenIntrospection(config, refreshed.access_token)).toMatchObject({
      active: true,
      sub,
    });

    // Signed in at the issuer: the next request comes back with a code without a page.
    const second = await start();
    await page.goto(second.url.href);
    expect(page.url().startsWith(redirect)).toBe(true);
    const tokens2 = await client.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier: second.verifier,
      expectedState: second.state,
      expectedNonce: second.nonce,
    });
    expect(tokens2.claims()!.auth_time).toBe(tokens.claims()!.auth_time);
    await client.tokenRevocation(config, tokens2.access_token);
    expect(await client.tokenIntrospection(config, tokens2.access_token)).toEqual({ active: false });

    // RP-initiated logout: back at the client, the session ended, the page asked for again.
    await page.goto(
      client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: redirect,
        state: 'bye',
      }).href,
    );
    expect(page.url()).toBe(`${redirect}?state=bye`);
    expect(await client.tokenIntrospection(config, refreshed.access_token)).toEqual({ active: false });
    await page.goto((await start()).url.href);
    await expect(page.getByRole('heading', { name: 'Sign in' }).count()).resolves.toBe(1);
    expect(violations).toEqual([]);
  });
});
