// A portal host as its domain's issuer, through a real Chromium over HTTPS: openid-client discovers the
// issuer `https://<host>:<port>` from that URL alone, the browser goes to the host's authorization
// endpoint, the portal's sign-in page signs the person in (its `__Host-` cookie, only ever sent over
// HTTPS), its form leads back to the host's issuer and on to the client's callback (CSP form-action lets
// exactly that client's origin through), and the code is exchanged for tokens that carry the host's
// issuer. A second request is answered at once while the portal session lives; RP-initiated logout at the
// host ends it. The relying party's back channel goes through the app in this process (the test host has
// no DNS name); the store does not matter to what the browser sees, so this runs on PGlite.
import { createServer, type Server } from 'node:http';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { selfSigned } from '../../src/runtime/tls.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { launchBrowser } from '../helpers/browser.js';
import { fetchThrough } from '../helpers/inject-fetch.js';
import { createPortalTenant, type PortalTenant } from '../helpers/portal.js';
import { tenantPassword } from '../helpers/tenants.js';

const hosts = ['login.alpha.test', 'control.test'];

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('a portal host’s issuer in Chromium', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let browser: Browser;
  let page: Page;
  let callbackServer: Server;
  let redirect: string;
  let config: client.Configuration;
  let issuer: string;
  let tenant: PortalTenant;
  const violations: string[] = [];

  beforeAll(async () => {
    callbackServer = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('back'),
    );
    redirect = `http://127.0.0.1:${await listening(callbackServer)}/callback`;
    const probe = createServer();
    const port = await listening(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    services = await openTestServices(backends[0]!, { publicUrl: `https://control.test:${port}` });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services, { https: await selfSigned(hosts) });
    await app.listen({ port, host: '127.0.0.1' });
    tenant = await createPortalTenant(app, operatorToken, {
      slug: `portal-browser-${process.pid}`,
      host: 'login.alpha.test',
      displayName: 'Alpha',
      color: '#8a2a00',
    });
    const registered = await app.inject({
      method: 'POST',
      url: `/v1/domains/${tenant.id}/oauth-clients`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: {
        name: 'web',
        kind: 'confidential',
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [redirect],
        postLogoutRedirectUris: [redirect],
        grantTypes: ['authorization_code', 'refresh_token'],
      },
    });
    expect(registered.statusCode, registered.body).toBe(201);
    const { clientId, clientSecret } = registered.json<{ clientId: string; clientSecret: string }>();
    issuer = `https://${tenant.host}:${port}`;
    config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
      [client.customFetch]: fetchThrough(app),
    });
    browser = await launchBrowser({ hosts });
    page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
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

  it('signs in on the portal at its host, returns with a code of the host’s issuer, and logs out there', async () => {
    expect(config.serverMetadata().authorization_endpoint).toBe(`${issuer}/authorize`);
    const first = await start();
    await page.goto(first.url.href);
    // The portal's own sign-in page, at the issuer's host.
    expect(new URL(page.url()).origin).toBe(issuer);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.getByLabel('Email').fill(tenant.email);
    await page.getByLabel('Password').fill(tenantPassword);
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
    expect(tokens.claims()!.iss).toBe(issuer);
    expect(decodeJwt(tokens.access_token).iss).toBe(issuer);
    const sub = tokens.claims()!.sub;
    expect(await client.fetchUserInfo(config, tokens.access_token, sub)).toMatchObject({ sub });

    // Signed in at the portal: the next request comes back with a code without a page.
    const second = await start();
    await page.goto(second.url.href);
    expect(page.url().startsWith(redirect)).toBe(true);
    const tokens2 = await client.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier: second.verifier,
      expectedState: second.state,
      expectedNonce: second.nonce,
    });
    expect(tokens2.claims()!.auth_time).toBe(tokens.claims()!.auth_time);

    // RP-initiated logout at the host: back at the client, the portal session ended, the page asked for again.
    await page.goto(
      client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token!,
        post_logout_redirect_uri: redirect,
        state: 'bye',
      }).href,
    );
    expect(page.url()).toBe(`${redirect}?state=bye`);
    expect(await client.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
    await page.goto((await start()).url.href);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    expect(violations).toEqual([]);
  });
});
