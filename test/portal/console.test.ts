// The operator console through inject(), on both stores: served at the control plane's own host only
// (the host of BULKHEAD_PUBLIC_URL), signed into with the operator token (limited per host and address),
// its cookie worthless at any other host and a portal cookie worthless there; every form refused from a
// third origin or without its token; domains created, suspended, resumed and deleted, hosts and branding
// given (the console's own host refused, 409), keys issued once and revoked, grants created (the API's
// checks) and revoked; the audit
// chain's status and the recorded verify runs as an SVG chart; hostile names shown as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { recordRun, type VerifyRun } from '../../src/verify/runs.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { cookiesOf, createPortalTenant, csrfOf, signIn, xss, type PortalTenant } from '../helpers/portal.js';
import type { TestProviders } from '../helpers/providers.js';
import { domainState } from '../helpers/tenants.js';

const form = 'application/x-www-form-urlencoded';
const op = { authorization: `Bearer ${operatorToken}` };

/** Every console route, with a path to ask it at and the fields its form needs. */
const consoleRoutes: Record<string, { path: (domainId: string) => string; fields?: Record<string, string> }> =
  {
    'GET /console': { path: () => '/console' },
    'GET /console/sign-in': { path: () => '/console/sign-in' },
    'POST /console/sign-in': { path: () => '/console/sign-in', fields: { token: 'x' } },
    'POST /console/sign-out': { path: () => '/console/sign-out' },
    'GET /console/domains': { path: () => '/console/domains' },
    'POST /console/domains': { path: () => '/console/domains', fields: { slug: 'evil', name: 'evil' } },
    'GET /console/domains/:domainId': { path: (d) => `/console/domains/${d}` },
    'POST /console/domains/:domainId/suspend': { path: (d) => `/console/domains/${d}/suspend` },
    'POST /console/domains/:domainId/resume': { path: (d) => `/console/domains/${d}/resume` },
    'POST /console/domains/:domainId/delete': {
      path: (d) => `/console/domains/${d}/delete`,
      fields: { confirm: 'x' },
    },
    'POST /console/domains/:domainId/portal': {
      path: (d) => `/console/domains/${d}/portal`,
      fields: {
        hosts: 'x.test',
        displayName: 'x',
        primaryColor: '#000000',
        accentColor: '#000000',
        supportEmail: '',
      },
    },
    'POST /console/domains/:domainId/keys': {
      path: (d) => `/console/domains/${d}/keys`,
      fields: { name: '' },
    },
    'POST /console/domains/:domainId/keys/:keyId/revoke': {
      path: (d) => `/console/domains/${d}/keys/key_00000000000000000000000000/revoke`,
    },
    'GET /console/grants': { path: () => '/console/grants' },
    'POST /console/grants': {
      path: () => '/console/grants',
      fields: {
        from: 'dom_00000000000000000000000000',
        to: 'dom_00000000000000000000000001',
        actions: 'volumes.read',
        resources: '*',
        days: '1',
        reason: 'x',
      },
    },
    'POST /console/grants/:grantId/revoke': {
      path: () => '/console/grants/grt_00000000000000000000000000/revoke',
    },
  };

describe.each(backends)('the operator console on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: PortalTenant;
  let b: PortalTenant;
  let consoleCookie: string;
  let aCookie: string;
  const tag = `${backend.name}-${process.pid}`;
  const consoleHost = `control.bulkhead-${tag}.test`;

  const page = (host: string, url: string, cookie?: string) =>
    app.inject({ method: 'GET', url, headers: { host, ...(cookie === undefined ? {} : { cookie }) } });
  const post = (host: string, url: string, cookie: string, fields: Record<string, string>, origin?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { host, cookie, origin: origin ?? `https://${host}`, 'content-type': form },
      payload: new URLSearchParams(fields).toString(),
    });
  const tokenOf = async () => csrfOf((await page(consoleHost, '/console/domains', consoleCookie)).body);

  /** Signs in to the console with `token` as a browser does. */
  async function consoleSignIn(token: string) {
    const first = await page(consoleHost, '/console/sign-in');
    expect(first.statusCode, first.body).toBe(200);
    const pre = Object.entries(cookiesOf(first)).map(([n, v]) => `${n}=${v}`)[0]!;
    const res = await post(consoleHost, '/console/sign-in', pre, { csrf: csrfOf(first.body), token });
    const value = cookiesOf(res)['__Host-bulkhead_console'];
    return { res, cookie: value === undefined || value === '' ? null : `__Host-bulkhead_console=${value}` };
  }

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, {
      publicUrl: `https://${consoleHost.toUpperCase()}:8443`,
      loginLimits: { windowMs: 60_000, maxPerName: 3, maxPerAddress: 1000 },
    }));
    a = await createPortalTenant(app, operatorToken, {
      slug: `ca-${tag}`,
      host: `portal.ca-${tag}.test`,
      displayName: 'Alpha Works',
      color: '#aa3300',
    });
    b = await createPortalTenant(app, operatorToken, {
      slug: `cb-${tag}`,
      host: `portal.cb-${tag}.test`,
      displayName: 'Beta Portal',
      color: '#003399',
    });
    aCookie = (await signIn(app, a.host, a.email)).cookie!;
    const started = Date.now() - 3 * 86_400_000;
    for (const [i, leaks, exercised] of [
      [0, 0, 40],
      [1, 2, 35],
      [2, 0, 42],
    ] as const) {
      const run: VerifyRun = {
        id: newId('verifyRun'),
        startedAt: new Date(started + i * 86_400_000).toISOString(),
        finishedAt: new Date(started + i * 86_400_000 + 60_000).toISOString(),
        target: 'https://bulkhead.test',
        verdict: leaks > 0 ? 'leak' : 'clean',
        operations: 42,
        exercised,
        unexercised: 42 - exercised,
        checks: 100,
        leaks,
        inconclusive: 0,
        error: null,
        report: null,
      };
      await services.store.system('verify', (tx) => recordRun(tx, run, 'system'));
    }
    consoleCookie = (await consoleSignIn(operatorToken)).cookie!;
    expect(consoleCookie).not.toBeNull();
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('has a case here for every console route', () => {
    const routes = app.accessTable
      .filter((r) => r.url.startsWith('/console'))
      .map((r) => `${r.method} ${r.url}`);
    expect(routes.sort()).toEqual(Object.keys(consoleRoutes).sort());
  });

  it('is served at the control plane host only; its host serves no portal, and no portal host serves it', async () => {
    for (const url of ['/', '/sign-in', '/resources', '/portal-assets/logo']) {
      const res = await page(`${consoleHost}:8443`, url, aCookie);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).toContain('There is no portal at this address.');
    }
    for (const [name, route] of Object.entries(consoleRoutes)) {
      const [method] = name.split(' ') as ['GET' | 'POST'];
      const url = route.path(b.id);
      const res =
        method === 'GET'
          ? await page(a.host, url, consoleCookie)
          : await post(a.host, url, consoleCookie, { csrf: await tokenOf(), ...route.fields });
      expect(res.statusCode, `${name}: ${res.body.slice(0, 200)}`).toBe(404);
      expect(res.body, name).not.toContain('Bulkhead console');
    }
  });

  it('refuses a portal cookie and no cookie at the console, on every route, and changes nothing', async () => {
    const before = await domainState(services, b.id);
    for (const [name, route] of Object.entries(consoleRoutes)) {
      if (name === 'GET /console/sign-in' || name === 'POST /console/sign-in') continue;
      const [method] = name.split(' ') as ['GET' | 'POST'];
      const url = route.path(b.id);
      const res =
        method === 'GET'
          ? await page(consoleHost, url, aCookie)
          : await post(consoleHost, url, aCookie, { csrf: await tokenOf(), ...route.fields });
      expect(res.statusCode, name).toBe(401);
      expect(res.body, name).toContain('Operator token');
    }
    expect(await domainState(services, b.id)).toEqual(before);
  });

  it('refuses every console form from a third origin or without its token, and changes nothing', async () => {
    const before = await domainState(services, b.id);
    const csrf = await tokenOf();
    for (const [name, route] of Object.entries(consoleRoutes)) {
      if (!name.startsWith('POST') || name === 'POST /console/sign-in') continue;
      const url = route.path(b.id);
      const evil = await post(
        consoleHost,
        url,
        consoleCookie,
        { csrf, ...route.fields },
        'https://evil.test',
      );
      expect(evil.statusCode, name).toBe(403);
      const forged = await post(consoleHost, url, consoleCookie, { csrf: 'forged', ...route.fields });
      expect(forged.statusCode, name).toBe(403);
    }
    expect(await domainState(services, b.id)).toEqual(before);
    expect((await page(consoleHost, '/console', consoleCookie)).statusCode).toBe(200);
  });

  it('shows the audit chain and the verify runs as a chart', async () => {
    const res = await page(consoleHost, '/console', consoleCookie);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('Intact:');
    expect(res.body).toContain('<svg class="chart"');
    expect(res.body).toContain('<polyline class="line"');
    expect(res.body.match(/<rect class="bar2"/g)?.length).toBe(3);
    expect(res.body).not.toContain('Alpha Works');
  });

  it('creates, suspends, resumes and deletes a domain, and gives it hosts, branding and keys', async () => {
    const csrf = await tokenOf();
    const created = await post(consoleHost, '/console/domains', consoleCookie, {
      csrf,
      slug: `cc-${tag}`,
      name: `Gamma ${xss}`,
    });
    expect(created.statusCode, created.body).toBe(303);
    const id = /\/console\/domains\/(dom_[0-9a-z]{26})/.exec(String(created.headers.location))![1]!;
    const list = await page(consoleHost, '/console/domains', consoleCookie);
    expect(list.body).toContain(`cc-${tag}`);
    expect(list.body).not.toContain(xss);
    expect(list.body).toContain('Gamma &lt;img src=x onerror=alert(1)&gt;');

    const own = await post(consoleHost, `/console/domains/${id}/portal`, consoleCookie, {
      csrf,
      hosts: `portal.cc-${tag}.test\n${consoleHost.toUpperCase()}.`,
      displayName: 'Gamma',
      primaryColor: '#112233',
      accentColor: '#445566',
      supportEmail: '',
    });
    expect(own.statusCode).toBe(409);
    expect(own.body).toContain('control plane');
    const viaApi = await app.inject({
      method: 'PUT',
      url: `/v1/domains/${id}/portal`,
      headers: op,
      payload: { hosts: [consoleHost], displayName: 'Gamma' },
    });
    expect(viaApi.statusCode).toBe(409);
    const set = await post(consoleHost, `/console/domains/${id}/portal`, consoleCookie, {
      csrf,
      hosts: `portal.cc-${tag}.test`,
      displayName: `Gamma ${xss}`,
      primaryColor: '#112233',
      accentColor: '#445566',
      supportEmail: `help@cc-${tag}.test`,
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.body).not.toContain(xss);
    expect((await page(`portal.cc-${tag}.test`, '/sign-in')).body).toContain('Sign in to Gamma');

    const issued = await post(consoleHost, `/console/domains/${id}/keys`, consoleCookie, {
      csrf,
      name: 'ci',
    });
    const key = /<code id="secret">(bhk_[^<]+)<\/code>/.exec(issued.body)?.[1];
    expect(key).toBeDefined();
    const whoami = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(whoami.statusCode).toBe(200);
    expect((await page(consoleHost, `/console/domains/${id}`, consoleCookie)).body).not.toContain(key!);
    const keyId = /action="\/console\/domains\/dom_[0-9a-z]{26}\/keys\/(key_[0-9a-z]{26})\/revoke"/.exec(
      issued.body,
    )![1]!;
    await post(consoleHost, `/console/domains/${id}/keys/${keyId}/revoke`, consoleCookie, { csrf });
    const after = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(after.statusCode).toBe(401);

    const suspended = await post(consoleHost, `/console/domains/${id}/suspend`, consoleCookie, { csrf });
    expect(suspended.body).toContain('<strong>suspended</strong>');
    const resumed = await post(consoleHost, `/console/domains/${id}/resume`, consoleCookie, { csrf });
    expect(resumed.body).toContain('<strong>active</strong>');
    const unconfirmed = await post(consoleHost, `/console/domains/${id}/delete`, consoleCookie, {
      csrf,
      confirm: 'wrong',
    });
    expect(unconfirmed.statusCode).toBe(400);
    const deleted = await post(consoleHost, `/console/domains/${id}/delete`, consoleCookie, {
      csrf,
      confirm: `cc-${tag}`,
    });
    expect(deleted.body).toContain('<strong>deleted</strong>');
  });

  it("creates a grant with the API's checks, shows its reason as text, and refuses unknown domains", async () => {
    const csrf = csrfOf((await page(consoleHost, '/console/grants', consoleCookie)).body);
    const grantsPage = await page(consoleHost, '/console/grants', consoleCookie);
    expect(grantsPage.body).toContain('action="/console/grants"');
    expect(grantsPage.body).toContain('value="volumes.read"');
    const base = { csrf, from: a.id, to: b.id, resources: '*', days: '2', reason: `ticket ${xss}` };
    const created = await app.inject({
      method: 'POST',
      url: '/console/grants',
      headers: {
        host: consoleHost,
        cookie: consoleCookie,
        origin: `https://${consoleHost}`,
        'content-type': form,
      },
      payload: new URLSearchParams([
        ...Object.entries(base),
        ['actions', 'volumes.read'],
        ['actions', 'instances.read'],
      ]).toString(),
    });
    expect(created.statusCode, created.body).toBe(200);
    expect(created.body).toContain('Created the grant.');
    expect(created.body).not.toContain(xss);
    expect(created.body).toContain('ticket &lt;img src=x onerror=alert(1)&gt;');
    const grants = (
      await app.inject({ method: 'GET', url: `/v1/grants?domainId=${b.id}`, headers: op })
    ).json<{
      items: { from: string; to: string; actions: string[]; expiresAt: string; createdBy: string }[];
    }>().items;
    const grant = grants.find((g) => g.from === a.id && g.to === b.id)!;
    expect(grant.actions.sort()).toEqual(['instances.read', 'volumes.read']);
    expect(grant.createdBy).toBe('operator');
    expect(Date.parse(grant.expiresAt) - Date.now()).toBeGreaterThan(86_400_000);
    for (const [fields, status] of [
      [{ ...base, actions: 'volumes.read', to: a.id }, 400], // to itself: the service's rule
      [{ ...base, actions: 'principals.write' }, 400], // not grantable
      [{ ...base, actions: 'volumes.read', days: '91' }, 400],
      [{ ...base, actions: 'volumes.read', resources: xss }, 400],
      [{ ...base }, 400], // no action
      [{ ...base, actions: 'volumes.read', to: 'dom_00000000000000000000000000' }, 404],
      [{ ...base, actions: 'volumes.read', to: 'not-an-id' }, 404],
    ] as const) {
      const before = await domainState(services, b.id);
      const res = await post(consoleHost, '/console/grants', consoleCookie, fields);
      expect(res.statusCode, JSON.stringify(fields)).toBe(status);
      expect(res.body).not.toContain(xss);
      expect(await domainState(services, b.id)).toEqual(before);
    }
  });

  it('shows a grant and a key named with a script as text, and revokes the grant', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/grants',
      headers: op,
      payload: {
        from: a.id,
        to: b.id,
        actions: ['volumes.read'],
        resources: ['*'],
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        reason: `support ${xss}`,
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const grantId = created.json<{ id: string }>().id;
    const list = await page(consoleHost, '/console/grants', consoleCookie);
    expect(list.body).not.toContain(xss);
    expect(list.body).toContain('support &lt;img src=x onerror=alert(1)&gt;');
    const csrf = await tokenOf();
    const revoked = await post(consoleHost, `/console/grants/${grantId}/revoke`, consoleCookie, { csrf });
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.body).toContain('Revoked the grant.');
    const grants = await app.inject({
      method: 'GET',
      url: `/v1/grants?domainId=${a.id}&includeInactive=true`,
      headers: op,
    });
    expect(
      grants.json<{ items: { id: string; revokedAt: string | null }[] }>().items.find((g) => g.id === grantId)
        ?.revokedAt,
    ).not.toBeNull();
    const key = await post(consoleHost, `/console/domains/${a.id}/keys`, consoleCookie, { csrf, name: xss });
    expect(key.statusCode).toBe(200);
    expect(key.body).not.toContain(xss);
    expect((await page(consoleHost, `/console/domains/${a.id}`, consoleCookie)).body).not.toContain(xss);
  });

  it('answers an unknown domain, key or grant with the 404 page and changes nothing', async () => {
    const before = await domainState(services, b.id);
    const csrf = await tokenOf();
    const unknown = 'dom_00000000000000000000000000';
    expect((await page(consoleHost, `/console/domains/${unknown}`, consoleCookie)).statusCode).toBe(404);
    expect(
      (await post(consoleHost, `/console/domains/${unknown}/suspend`, consoleCookie, { csrf })).statusCode,
    ).toBe(404);
    const foreignKey = (
      await app.inject({ method: 'GET', url: `/v1/domains/${a.id}/keys`, headers: op })
    ).json<{
      items: { id: string }[];
    }>().items[0]!.id;
    // A's key named under B's domain is not B's: unknown, and A's key stays live.
    const res = await post(consoleHost, `/console/domains/${b.id}/keys/${foreignKey}/revoke`, consoleCookie, {
      csrf,
    });
    expect(res.statusCode).toBe(404);
    expect(await domainState(services, b.id)).toEqual(before);
    const whoami = await app.inject({
      method: 'GET',
      url: '/v1/whoami',
      headers: { authorization: `Bearer ${a.key}` },
    });
    expect(whoami.statusCode).toBe(200);
  });

  it('signs out: the console cookie is cleared', async () => {
    const { cookie } = await consoleSignIn(operatorToken);
    const csrf = csrfOf((await page(consoleHost, '/console', cookie!)).body);
    const out = await post(consoleHost, '/console/sign-out', cookie!, { csrf });
    expect(out.statusCode).toBe(303);
    expect(cookiesOf(out)['__Host-bulkhead_console']).toBe('');
  });

  it('refuses a wrong token with the same page, and limits failures per host and address', async () => {
    const wrong = await consoleSignIn('not the token');
    expect(wrong.res.statusCode).toBe(401);
    expect(wrong.cookie).toBeNull();
    for (let i = 0; i < 3; i++) await consoleSignIn('still not the token');
    const limited = await consoleSignIn(operatorToken);
    expect(limited.res.statusCode).toBe(429);
    expect(limited.cookie).toBeNull();
  });
});
