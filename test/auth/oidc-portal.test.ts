// A domain with a portal signs people in at its portal for its OpenID Provider, on both stores, through
// inject() with the hosts a browser would send: the issuer at the control plane's host hands the
// authorization request on to the portal's host, the portal's sign-in page sends the person back with
// `next`, and the portal's session on that host is the authentication (auth_time from it). Across two
// domains with portals, A's portal session never completes an authorization for B's client. End-session
// at the control plane's host, which the portal's cookie never reaches, ends the portal session that
// authorized the tokens; A's ID token at B's end-session ends nothing of either.
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { asOwner, backends } from '../helpers/backends.js';
import { cookiesOf, createPortalTenant, csrfOf, signIn, type PortalTenant } from '../helpers/portal.js';
import type { TestProviders } from '../helpers/providers.js';
import { tenantPassword } from '../helpers/tenants.js';

const publicUrl = 'https://bulkhead-oidc-portal.test';
const controlHost = 'bulkhead-oidc-portal.test';

interface Side extends PortalTenant {
  slug: string;
  issuer: string;
  clientId: string;
  redirect: string;
}

describe.each(backends)('the portal as the issuer’s sign-in page on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Side;
  let b: Side;
  const tag = `${backend.name}-${process.pid}`;

  async function side(label: string): Promise<Side> {
    const slug = `op-${label}-${tag}`;
    const tenant = await createPortalTenant(app, operatorToken, {
      slug,
      host: `portal.${label}-${tag}.test`,
      displayName: `Portal ${label}`,
      color: '#224466',
    });
    const redirect = `https://app-${label}.example/callback`;
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${tenant.id}/oauth-clients`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { name: 'spa', kind: 'public', redirectUris: [redirect], grantTypes: ['authorization_code'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    return {
      ...tenant,
      slug,
      issuer: `${publicUrl}/d/${slug}`,
      clientId: res.json<{ clientId: string }>().clientId,
      redirect,
    };
  }

  /** An authorization request of `client` at `side`'s issuer, as a path. */
  function authorizePath(side: Side, extra: Record<string, string> = {}, client = side) {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: client.redirect,
      scope: 'openid',
      state: 'st-1',
      nonce: 'n-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    return { verifier, path: `/d/${side.slug}/authorize?${query.toString()}` };
  }

  const get = (host: string, url: string, cookie?: string) =>
    app.inject({ method: 'GET', url, headers: { host, ...(cookie === undefined ? {} : { cookie }) } });

  /** Tokens with an ID token for `side`'s client, authorized by the portal session behind `cookie`. */
  async function tokensThrough(side: Side, cookie: string) {
    const { verifier, path } = authorizePath(side);
    const done = await get(side.host, path, cookie);
    const code = new URL(done.headers.location as string).searchParams.get('code');
    expect(code, done.headers.location as string).toMatch(/^bhc_/);
    const token = await app.inject({
      method: 'POST',
      url: `/d/${side.slug}/token`,
      headers: { host: controlHost, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code!,
        redirect_uri: side.redirect,
        code_verifier: verifier,
        client_id: side.clientId,
      }).toString(),
    });
    expect(token.statusCode, token.body).toBe(200);
    return token.json<{ access_token: string; id_token: string }>();
  }

  const userinfo = (side: Side, token: string) =>
    app.inject({
      method: 'GET',
      url: `/d/${side.slug}/userinfo`,
      headers: { host: controlHost, authorization: `Bearer ${token}` },
    });
  const endSession = (side: Side, hint: string) => `/d/${side.slug}/end-session?id_token_hint=${hint}`;

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

  it('hands the request to the portal, signs in there, and finishes with a code whose auth_time is the portal session’s', async () => {
    const { verifier, path } = authorizePath(a);
    const atIssuer = await get(controlHost, path);
    expect(atIssuer.statusCode).toBe(303);
    expect(atIssuer.headers.location).toBe(`https://${a.host}${path}`);
    const atPortal = await get(a.host, path);
    expect(atPortal.statusCode).toBe(303);
    const signInUrl = new URL(atPortal.headers.location as string, `https://${a.host}`);
    expect(signInUrl.pathname).toBe('/sign-in');
    const next = signInUrl.searchParams.get('next')!;
    expect(next).toBe(path);
    // The portal's sign-in page lets its form lead on to this client's origin, and to no other.
    const page = await get(a.host, `${signInUrl.pathname}${signInUrl.search}`);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("form-action 'self' https://app-a.example;");
    expect(page.body).toContain(`value="${next.replaceAll('&', '&amp;')}"`);
    const before = Math.floor(Date.now() / 1000);
    const { cookie, res } = await signIn(app, a.host, a.email, tenantPassword, next);
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(next);
    const done = await get(a.host, next, cookie!);
    expect(done.statusCode).toBe(303);
    const callback = new URL(done.headers.location as string);
    expect(callback.origin + callback.pathname).toBe(a.redirect);
    expect(callback.searchParams.get('iss')).toBe(a.issuer);
    expect(callback.searchParams.get('state')).toBe('st-1');
    const token = await app.inject({
      method: 'POST',
      url: `/d/${a.slug}/token`,
      headers: { host: controlHost, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        redirect_uri: a.redirect,
        code_verifier: verifier,
        client_id: a.clientId,
      }).toString(),
    });
    expect(token.statusCode, token.body).toBe(200);
    const claims = decodeJwt(token.json<{ id_token: string }>().id_token);
    expect(claims).toMatchObject({ iss: a.issuer, aud: a.clientId, nonce: 'n-1' });
    expect(claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    // Signed in at the portal: the next request is answered with a code at once, with the same auth_time.
    const second = authorizePath(a);
    const again = await get(a.host, second.path, cookie!);
    expect(new URL(again.headers.location as string).searchParams.get('code')).toMatch(/^bhc_/);
  });

  it('never lets A’s portal session complete an authorization for B’s client, at any host', async () => {
    const { cookie } = await signIn(app, a.host, a.email);
    const portalA = cookie!;
    const forB = authorizePath(b).path;
    // At A's portal host, B's issuer: A's session is not B's; the request goes on to B's portal.
    const atA = await get(a.host, forB, portalA);
    expect(atA.statusCode).toBe(303);
    expect(atA.headers.location).toBe(`https://${b.host}${forB}`);
    // At B's portal host with A's cookie: B's sign-in page, never a code.
    const atB = await get(b.host, forB, portalA);
    expect(atB.statusCode).toBe(303);
    expect(atB.headers.location).toMatch(/^\/sign-in\?next=/);
    // A's issuer asked at B's host with A's cookie: handed to A's portal, no code here.
    const forA = authorizePath(a).path;
    const crossed = await get(b.host, forA, portalA);
    expect(crossed.headers.location).toBe(`https://${a.host}${forA}`);
    // B's client at A's issuer, on A's portal with A's session: the client is not A's (a page, 400).
    const mixed = await get(a.host, authorizePath(a, {}, b).path, portalA);
    expect(mixed.statusCode).toBe(400);
    expect(mixed.headers.location).toBeUndefined();
    // The control plane's host with A's portal cookie: handed on, never a code.
    const control = await get(controlHost, forA, portalA);
    expect(control.headers.location).toBe(`https://${a.host}${forA}`);
  });

  it('ends the portal session that authorized the tokens at end-session on the control plane’s host, with no cookie', async () => {
    const portalA = (await signIn(app, a.host, a.email)).cookie!;
    const tokens = await tokensThrough(a, portalA);
    expect((await get(a.host, '/', portalA)).statusCode).toBe(200);
    const out = await get(controlHost, endSession(a, tokens.id_token));
    expect(out.statusCode, out.body).toBe(200);
    expect(out.headers['set-cookie']).toBeUndefined();
    // The portal refuses the old cookie as it does any ended session, and asks for a sign-in again.
    expect((await get(a.host, '/', portalA)).statusCode).toBe(401);
    const again = await get(a.host, authorizePath(a).path, portalA);
    expect(again.headers.location).toMatch(/^\/sign-in\?next=/);
    // The token session ended too.
    expect((await userinfo(a, tokens.access_token)).statusCode).toBe(401);
    // The ending is audited as the person's logout of that browser session.
    const { sid, sub } = decodeJwt(tokens.id_token);
    const logouts = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: a.id, action: 'session.logout', limit: 1000 }),
    );
    expect(logouts.filter((e) => e.detail['tokenSessionId'] === sid)).toEqual([
      expect.objectContaining({ actor: `principal:${sub}`, outcome: 'success' }),
    ]);
  });

  it('never lets A’s ID token end a session of B at B’s end-session, nor one of A', async () => {
    const portalA = (await signIn(app, a.host, a.email)).cookie!;
    const portalB = (await signIn(app, b.host, b.email)).cookie!;
    const tokensA = await tokensThrough(a, portalA);
    const tokensB = await tokensThrough(b, portalB);
    const attempts: [string, string | undefined][] = [
      [controlHost, undefined],
      [b.host, portalB],
      [b.host, portalA],
      [a.host, portalA],
    ];
    for (const [host, cookie] of attempts) {
      const res = await get(host, endSession(b, tokensA.id_token), cookie);
      expect(res.statusCode, host).toBe(400);
      expect(res.headers['set-cookie'], host).toBeUndefined();
      expect(res.headers.location).toBeUndefined();
    }
    // Nothing of either ended: both portal sessions and both token sessions still work.
    expect((await get(b.host, '/', portalB)).statusCode).toBe(200);
    expect((await get(a.host, '/', portalA)).statusCode).toBe(200);
    expect((await userinfo(b, tokensB.access_token)).statusCode).toBe(200);
    expect((await userinfo(a, tokensA.access_token)).statusCode).toBe(200);
    // A's hint at A's own end-session, sent from B's portal host with B's cookie: A's sessions end, B's
    // portal session is neither ended nor cleared.
    const own = await get(b.host, endSession(a, tokensA.id_token), portalB);
    expect(own.statusCode).toBe(200);
    expect(own.headers['set-cookie']).toBeUndefined();
    expect((await get(a.host, '/', portalA)).statusCode).toBe(401);
    expect((await userinfo(a, tokensA.access_token)).statusCode).toBe(401);
    expect((await get(b.host, '/', portalB)).statusCode).toBe(200);
    expect((await userinfo(b, tokensB.access_token)).statusCode).toBe(200);
  });

  it('at the portal host, ends and clears the portal session the browser carries for the same person only', async () => {
    const other = `grace-${tag}@${a.host}`;
    const created = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/principals`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { kind: 'user', email: other, password: tenantPassword },
    });
    expect(created.statusCode, created.body).toBe(201);
    const authorizing = (await signIn(app, a.host, a.email)).cookie!;
    const tokens = await tokensThrough(a, authorizing);
    const carried = (await signIn(app, a.host, a.email)).cookie!;
    const otherPerson = (await signIn(app, a.host, other)).cookie!;
    // Another person's portal cookie at the portal host: neither ended nor cleared.
    const first = await get(a.host, endSession(a, tokens.id_token), otherPerson);
    expect(first.statusCode).toBe(200);
    expect(first.headers['set-cookie']).toBeUndefined();
    expect((await get(a.host, '/', otherPerson)).statusCode).toBe(200);
    expect((await get(a.host, '/', authorizing)).statusCode).toBe(401);
    // The same person's other portal session, carried here: ended, and its cookie cleared as the
    // portal's sign-out clears it.
    expect((await get(a.host, '/', carried)).statusCode).toBe(200);
    const second = await get(a.host, endSession(a, tokens.id_token), carried);
    expect(second.statusCode).toBe(200);
    expect(second.headers['set-cookie']).toEqual([
      '__Host-bulkhead_portal=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict',
    ]);
    expect((await get(a.host, '/', carried)).statusCode).toBe(401);
    expect((await get(a.host, '/', otherPerson)).statusCode).toBe(200);
  });

  it('asks again for prompt=login, and answers login_required for prompt=none without a session', async () => {
    const { cookie } = await signIn(app, a.host, a.email);
    const { path } = authorizePath(a, { prompt: 'login' });
    const asked = await get(a.host, path, cookie!);
    expect(asked.statusCode).toBe(303);
    const signInUrl = new URL(asked.headers.location as string, `https://${a.host}`);
    expect(signInUrl.searchParams.get('fresh')).toBe('1');
    expect(signInUrl.searchParams.get('next')).not.toContain('prompt=');
    // The form is shown to the person already signed in.
    const page = await get(a.host, `${signInUrl.pathname}${signInUrl.search}`, cookie!);
    expect(page.statusCode).toBe(200);
    expect(csrfOf(page.body)).toBeTypeOf('string');
    const none = await get(a.host, authorizePath(a, { prompt: 'none' }).path);
    const back = new URL(none.headers.location as string);
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.get('iss')).toBe(a.issuer);
  });

  it('counts the portal’s failed sign-ins under the shared limits and says so in RateLimit', async () => {
    const page = await get(a.host, '/sign-in');
    const pre = Object.entries(cookiesOf(page)).map(([n, v]) => `${n}=${v}`)[0]!;
    const res = await app.inject({
      method: 'POST',
      url: '/sign-in',
      headers: {
        host: a.host,
        origin: `https://${a.host}`,
        cookie: pre,
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ csrf: csrfOf(page.body), email: a.email, password: 'wrong' }).toString(),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['ratelimit-policy']).toMatch(/"account";q=\d+/);
  });
});
