// The portal through inject(), on both stores, attacked across hosts: every portal route with A's cookie
// at B's host (refused with B's sign-in page, audited in A, A's session untouched), B's ids in A's pages
// and forms (the 404 page, as for an unknown id), forms from another origin or without their token,
// open redirects, user enumeration, a script in a name, and the API refusing a portal cookie.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { cookiesOf, createPortalTenant, csrfOf, signIn, xss, type PortalTenant } from '../helpers/portal.js';
import type { TestProviders } from '../helpers/providers.js';
import { domainState } from '../helpers/tenants.js';

/** Every portal route, with a path to ask it at. */
interface Ids {
  resourceId: string;
  sessionId: string;
  principalId: string;
}
const portalRoutes: Record<string, { path: (ids: Ids) => string; fields?: Record<string, string> }> = {
  'GET /': { path: () => '/' },
  'GET /sign-in': { path: () => '/sign-in' },
  'POST /sign-in': { path: () => '/sign-in' },
  'POST /sign-out': { path: () => '/sign-out' },
  'GET /resources': { path: () => '/resources' },
  'GET /resources/:resourceId': { path: (i) => `/resources/${i.resourceId}` },
  'POST /resources': {
    path: () => '/resources',
    fields: { key: 'bhk_not_a_key', kind: 'storage', name: 'from-elsewhere' },
  },
  'POST /resources/:resourceId/delete': {
    path: (i) => `/resources/${i.resourceId}/delete`,
    fields: { key: 'bhk_not_a_key' },
  },
  'GET /members': { path: () => '/members' },
  'GET /sessions': { path: () => '/sessions' },
  'POST /members': {
    path: () => '/members',
    fields: { kind: 'user', email: 'new@example.com', password: 'a long enough password', role: 'admin' },
  },
  'POST /members/:principalId/disable': { path: (i) => `/members/${i.principalId}/disable` },
  'POST /members/:principalId/password': {
    path: (i) => `/members/${i.principalId}/password`,
    fields: { password: 'a long enough password' },
  },
  'POST /members/:principalId/role': {
    path: (i) => `/members/${i.principalId}/role`,
    fields: { role: 'member' },
  },
  'GET /audit': { path: () => '/audit' },
  'GET /audit.jsonl': { path: () => '/audit.jsonl' },
  'GET /audit.csv': { path: () => '/audit.csv' },
  'GET /usage': { path: () => '/usage' },
  'GET /invoices': { path: () => '/invoices' },
  'GET /invoices/:invoiceId.pdf': { path: () => '/invoices/inv_00000000000000000000000000.pdf' },
  'POST /sessions/:sessionId/end': { path: (i) => `/sessions/${i.sessionId}/end` },
  'POST /sessions/sign-out-everywhere': { path: () => '/sessions/sign-out-everywhere' },
  'GET /portal-assets/portal.css': { path: () => '/portal-assets/portal.css' },
  'GET /portal-assets/portal.js': { path: () => '/portal-assets/portal.js' },
  'GET /portal-assets/logo': { path: () => '/portal-assets/logo' },
};

/** Routes that show nothing of a person: served to anyone at a portal host, and none of A's at B's. */
const publicRoutes = new Set([
  'GET /sign-in',
  'GET /portal-assets/portal.css',
  'GET /portal-assets/portal.js',
]);

const form = 'application/x-www-form-urlencoded';

describe.each(backends)('the portal across hosts on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: PortalTenant;
  let b: PortalTenant;
  let aCookie: string;
  let bCookie: string;
  let bResource: string;
  let bSession: string;
  let bPrincipal: string;
  const tag = `${backend.name}-${process.pid}`;

  const page = (host: string, url: string, cookie?: string) =>
    app.inject({ method: 'GET', url, headers: { host, ...(cookie === undefined ? {} : { cookie }) } });
  const post = (host: string, url: string, cookie: string, fields: Record<string, string>, origin?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { host, cookie, origin: origin ?? `https://${host}`, 'content-type': form },
      payload: new URLSearchParams(fields).toString(),
    });
  const tokenAt = async (host: string, cookie: string) =>
    csrfOf((await page(host, '/sessions', cookie)).body);

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, {
      loginLimits: { windowMs: 60_000, maxPerName: 3, maxPerAddress: 1000 },
    }));
    a = await createPortalTenant(app, operatorToken, {
      slug: `pa-${tag}`,
      host: `portal.a-${tag}.test`,
      displayName: `Alpha ${xss}`,
      color: '#aa3300',
    });
    b = await createPortalTenant(app, operatorToken, {
      slug: `pb-${tag}`,
      host: `portal.b-${tag}.test`,
      displayName: 'Beta Portal',
      color: '#003399',
    });
    const created = await app.inject({
      method: 'POST',
      url: `/v1/domains/${b.id}/resources`,
      headers: { authorization: `Bearer ${b.key}` },
      payload: { kind: 'storage', name: 'b-secret-files' },
    });
    expect(created.statusCode, created.body).toBe(201);
    bResource = created.json<{ id: string }>().id;
    aCookie = (await signIn(app, a.host, a.email)).cookie!;
    bCookie = (await signIn(app, b.host, b.email)).cookie!;
    const bPage = await page(b.host, '/sessions', bCookie);
    bSession = /<code>(ses_[0-9a-z]{26})<\/code> \(this one\)/.exec(bPage.body)![1]!;
    const bPeople = await app.inject({
      method: 'GET',
      url: `/v1/domains/${b.id}/principals`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    bPrincipal = bPeople.json<{ items: { id: string }[] }>().items[0]!.id;
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('has a case here for every portal route', () => {
    const routes = app.accessTable
      .filter(
        // The operator console's routes are attacked in console.test.ts.
        (r) =>
          r.access === null &&
          !r.url.startsWith('/v1/') &&
          !r.url.startsWith('/console') &&
          r.url !== '/openapi.json',
      )
      .map((r) => `${r.method} ${r.url}`);
    expect(routes.sort()).toEqual(Object.keys(portalRoutes).sort());
  });

  it('shows a host that names no domain, and the control plane, the bare 404 page', async () => {
    for (const host of ['unknown.example', 'localhost:80', '127.0.0.1:8080', `PORTAL.A-${tag}.TEST.evil`]) {
      for (const url of ['/', '/sign-in', '/portal-assets/logo', '/portal-assets/portal.css']) {
        const res = await page(host, url, aCookie);
        expect(res.statusCode, `${host}${url}`).toBe(404);
        expect(res.body).toContain('There is no portal at this address.');
        expect(res.body).not.toContain('Alpha');
        expect(res.body).not.toContain('Beta');
      }
    }
  });

  it('serves a host in any spelling of its normal form', async () => {
    const res = await page(`PORTAL.A-${tag}.TEST.:443`, '/', aCookie);
    // The session is bound to the host in normal form, so the same host spelt otherwise accepts it.
    expect(res.statusCode, res.body).toBe(200);
  });

  it("refuses A's cookie on every route at B's host, audits it in A, and leaves A's session alone", async () => {
    const ids = { resourceId: bResource, sessionId: bSession, principalId: bPrincipal };
    const before = await domainState(services, b.id);
    for (const [name, route] of Object.entries(portalRoutes)) {
      const [method] = name.split(' ') as ['GET' | 'POST'];
      const url = route.path(ids);
      const res =
        method === 'GET'
          ? await page(b.host, url, aCookie)
          : await post(b.host, url, aCookie, {
              csrf: await tokenAt(a.host, aCookie),
              ...route.fields,
              ...(name === 'POST /sign-in' ? { email: a.email, password: 'x' } : {}),
            });
      expect(res.body, name).not.toContain('Alpha');
      expect(res.body, name).not.toContain(a.email);
      if (publicRoutes.has(name)) continue;
      if (name === 'POST /sign-in') {
        // A's token is not B's sign-in form's: refused before any password is looked at.
        expect(res.statusCode, name).toBe(403);
        continue;
      }
      if (name === 'GET /portal-assets/logo') {
        expect(res.statusCode, name).toBe(404); // B has no logo; A's is never served at B's host
        continue;
      }
      expect(res.statusCode, `${name}: ${res.body.slice(0, 300)}`).toBe(401);
      expect(res.body, name).toContain('Sign in to Beta Portal');
    }
    expect(await domainState(services, b.id)).toEqual(before);
    const audit = await services.store.system('operator', (tx) =>
      listAudit(tx, { domainId: a.id, action: 'portal.cross_host', limit: 100 }),
    );
    expect(audit.length).toBeGreaterThanOrEqual(8);
    expect(audit.every((e) => e.outcome === 'denied')).toBe(true);
    expect(audit.map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ presentedAt: b.host, openedAt: a.host, sameDomain: false }),
    );
    // A's session still works at A's host.
    const still = await page(a.host, '/', aCookie);
    expect(still.statusCode).toBe(200);
  });

  it("refuses A's cookie on B's dashboard while B's site is kept, and audits it in A", async () => {
    // The sign-in page keeps B's site; the dashboard then reads the session in B's domain with its figures,
    // where A's session is not: it must still be looked up everywhere, refused and audited.
    expect((await page(b.host, '/sign-in')).statusCode).toBe(200);
    const since = new Date();
    const res = await page(b.host, '/', aCookie);
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('Sign in to Beta Portal');
    expect(res.body).not.toContain(a.email);
    const audit = await services.store.system('operator', (tx) =>
      listAudit(tx, { domainId: a.id, action: 'portal.cross_host', limit: 100 }),
    );
    const now = audit.filter((e) => e.detail['route'] === '/' && new Date(e.at).getTime() >= since.getTime());
    expect(now.every((e) => e.outcome === 'denied')).toBe(true);
    expect(now.map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ presentedAt: b.host, openedAt: a.host, sameDomain: false }),
    );
    expect((await page(a.host, '/', aCookie)).statusCode).toBe(200);
  });

  it("refuses A's session on another host of A too (a session is bound to one host)", async () => {
    const second = `portal2.a-${tag}.test`;
    const set = await app.inject({
      method: 'PUT',
      url: `/v1/domains/${a.id}/portal`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { hosts: [a.host, second], displayName: `Alpha ${xss}`, primaryColor: '#aa3300' },
    });
    expect(set.statusCode, set.body).toBe(200);
    const res = await page(second, '/', aCookie);
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('Sign in to Alpha');
    const audit = await services.store.system('operator', (tx) =>
      listAudit(tx, { domainId: a.id, action: 'portal.cross_host', limit: 100 }),
    );
    expect(audit.map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ presentedAt: second, sameDomain: true }),
    );
    expect((await page(a.host, '/', aCookie)).statusCode).toBe(200);
  });

  it("answers B's ids in A's pages and forms exactly as unknown ones, and B stays as it was", async () => {
    const before = await domainState(services, b.id);
    const unknownResource = 'res_00000000000000000000000000';
    const foreign = await page(a.host, `/resources/${bResource}`, aCookie);
    const unknown = await page(a.host, `/resources/${unknownResource}`, aCookie);
    expect(foreign.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(foreign.body).not.toContain('b-secret-files');
    const strip = (html: string) => html.replace(/nonce="[^"]*"/g, '');
    expect(strip(foreign.body)).toEqual(strip(unknown.body));
    const csrf = await tokenAt(a.host, aCookie);
    const end = await post(a.host, `/sessions/${bSession}/end`, aCookie, { csrf });
    const endUnknown = await post(a.host, '/sessions/ses_00000000000000000000000000/end', aCookie, { csrf });
    expect(end.statusCode).toBe(404);
    expect(strip(end.body)).toEqual(strip(endUnknown.body));
    expect(await domainState(services, b.id)).toEqual(before);
    expect((await page(b.host, '/', bCookie)).statusCode).toBe(200);
  });

  it('refuses a form from another origin, or without its token, and nothing ends', async () => {
    const csrf = await tokenAt(a.host, aCookie);
    const evil = await post(a.host, '/sign-out', aCookie, { csrf }, 'https://evil.test');
    expect(evil.statusCode).toBe(403);
    const noToken = await post(a.host, '/sessions/sign-out-everywhere', aCookie, { csrf: 'forged' });
    expect(noToken.statusCode).toBe(403);
    const bToken = await post(a.host, '/sign-out', aCookie, { csrf: await tokenAt(b.host, bCookie) });
    expect(bToken.statusCode).toBe(403);
    const noOrigin = await app.inject({
      method: 'POST',
      url: '/sign-out',
      headers: { host: a.host, cookie: aCookie, 'content-type': form },
      payload: `csrf=${csrf}`,
    });
    expect(noOrigin.statusCode).toBe(403);
    expect((await page(a.host, '/', aCookie)).statusCode).toBe(200);
  });

  it('shows a script in a name as text, and sends a strict CSP with a nonce', async () => {
    const res = await page(a.host, '/', aCookie);
    expect(res.body).not.toContain(xss);
    expect(res.body).toContain('Alpha &lt;img src=x onerror=alert(1)&gt;');
    const csp = String(res.headers['content-security-policy']);
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.body).toContain(`<style nonce="${nonce}">`);
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const again = await page(a.host, '/', aCookie);
    expect(String(again.headers['content-security-policy'])).not.toContain(nonce);
  });

  it('follows next only to a path of the same host', async () => {
    for (const [next, location] of [
      ['/resources', '/resources'],
      ['//evil.test/x', '/'],
      ['https://evil.test/', '/'],
      ['/\\evil.test', '/'],
      ['javascript:alert(1)', '/'],
      [`https://${b.host}/`, '/'],
    ] as const) {
      const { res } = await signIn(app, a.host, a.email, undefined, next);
      expect(res.statusCode, next).toBe(303);
      expect(res.headers.location, next).toBe(location);
    }
  });

  it('says the same for an unknown email and a wrong password, and limits failures per account', async () => {
    const unknown = await signIn(app, a.host, 'nobody@example.com', 'wrong password 123');
    const wrong = await signIn(app, a.host, `fresh-${a.email}`, 'wrong password 123');
    expect(unknown.res.statusCode).toBe(401);
    expect(wrong.res.statusCode).toBe(401);
    expect(unknown.cookie).toBeNull();
    const message = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];
    expect(message(unknown.res.body)).toBe(message(wrong.res.body));
    for (let i = 0; i < 3; i++) await signIn(app, a.host, a.email, 'wrong password 123');
    const limited = await signIn(app, a.host, a.email);
    expect(limited.res.statusCode).toBe(429);
    expect(limited.cookie).toBeNull();
  });

  it('is not a credential of the API', async () => {
    const value = aCookie.split('=')[1]!;
    const res = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { cookie: `__Host-bulkhead_session=${value}` },
    });
    expect(res.statusCode).toBe(401);
  });

  it('signs out everywhere, and the cookie is refused from then on', async () => {
    const { cookie } = await signIn(app, b.host, b.email);
    const res = await post(b.host, '/sessions/sign-out-everywhere', cookie!, {
      csrf: await tokenAt(b.host, cookie!),
    });
    expect(res.statusCode).toBe(303);
    expect(cookiesOf(res)['__Host-bulkhead_portal']).toBe('');
    expect((await page(b.host, '/', cookie!)).statusCode).toBe(401);
    expect((await page(b.host, '/', bCookie)).statusCode).toBe(401);
  });
});
