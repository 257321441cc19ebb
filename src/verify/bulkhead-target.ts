// Bulkhead as its own target. With the operator token, two fresh probe domains are created, each with
// every credential a tenant holds (a provisioning key, an access token, a browser session); B gets one
// of every kind of thing (instance, volume, storage resource with a secret object, blueprint, grant, an
// invoice of last month closed for B alone) and
// A a few of its own. After the HTTP attacks, A and B each get a resource of every kind the server
// offers, and the server runs each backend's own probe between them (POST /v1/verify/provider-probes:
// the credentials stay on the server). Afterwards everything is deleted again: resources, volumes,
// instances, the grant, then both domains.
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { audienceOf } from '@bulkhead/sdk/profile';
import { ConfigError } from '../config.js';
import { computeKinds, resourceKinds } from '../domain/kinds.js';
import { cookieSet } from './config-target.js';
import { httpSender, type Exchange, type Send } from './http.js';
import type { Schema } from './openapi.js';
import { sampleValue } from './samples.js';
import type {
  CookieRoute,
  Credential,
  HostSetup,
  OAuthSetup,
  ProbeDomain,
  ProbeSetup,
  ProviderProbe,
  Target,
} from './target.js';
import { TargetError } from './target.js';

export interface BulkheadTargetOptions {
  readonly url: string;
  readonly operatorToken: string;
  readonly timeoutMs?: number;
  readonly send?: Send;
  /** How long a backend may take to make a probe resource ready, or to run its probe (default 120 s). */
  readonly provisionTimeoutMs?: number;
}

interface Domain {
  readonly id: string;
  /** The slug that names the domain's issuer (`/d/{slug}`). */
  readonly slug: string;
  readonly key: string;
  readonly token: string;
  readonly cookie: string;
  readonly email: string;
  readonly password: string;
  /** The domain's portal host and the portal's display name. */
  readonly host: string;
  readonly displayName: string;
}

/** A client as `POST /v1/domains/{domainId}/oauth-clients` answers it (its secret shown this once). */
interface OAuthClientCreated {
  readonly id: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** The portal's session cookie and the sign-in form's own (src/http/routes/portal). */
const portalCookie = '__Host-bulkhead_portal';
const signInCookie = '__Host-bulkhead_portal_signin';

/** The `iss` of a domain's access token, as the token attacks' foreign issuer. */
function issuerOf(token: string): { foreignIssuer?: string } {
  const iss = decodeJwt(token).iss;
  return typeof iss === 'string' ? { foreignIssuer: iss } : {};
}

/** The form token a portal page carries. */
function formTokenOf(html: string): string | null {
  return /name="csrf" value="([^"]*)"/.exec(html)?.[1] ?? null;
}

/**
 * Every route of the portal a domain's people use (not the operator console's, which takes no tenant's
 * cookie), as the portal plugin registers it, with a form built from each form's schema.
 */
async function portalRoutes(): Promise<CookieRoute[]> {
  const { portalRouteTable } = await import('../http/routes/portal/routes.js');
  let n = 0;
  const ctx = {
    resolve: (schema: unknown) => schema as Schema,
    ids: {},
    unique: () => `verify-${n++}`,
  };
  return (await portalRouteTable())
    .filter((r) => !r.console)
    .map((r) => {
      if (r.form === null) return { method: r.method, path: r.path };
      const form: Record<string, string> = {};
      const required = (r.form['required'] as string[] | undefined) ?? [];
      const properties = (r.form['properties'] as Record<string, unknown> | undefined) ?? {};
      for (const name of required) {
        if (name === 'csrf') continue;
        const v = sampleValue(properties[name], ctx, name);
        form[name] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      return { method: r.method, path: r.path, form };
    });
}

const secretObject = 'verify-secret.txt';

/**
 * The probe keys' scopes: what a key issued without scopes holds, and billing's, which are asked for by
 * name, so that each domain's own billing calls are made for real with its key, and A's key at B's
 * billing is refused by the domain check rather than by a missing scope. Left out: recording usage (the
 * probe does not touch the price book, so no meter would take it) and changing payments (without Stripe
 * the server answers 409 `payments_not_configured`, which says nothing either way).
 */
const probeKeyScopes = [
  ...resourceKinds,
  ...computeKinds,
  'usage:read',
  'invoices:read',
  'billing:read',
  'billing:write',
  'payments:read',
];

/**
 * A target that provisions its probe domains on a running Bulkhead.
 *
 * @example
 * const target = bulkheadTarget({ url: 'http://127.0.0.1:8080', operatorToken });
 */
export function bulkheadTarget(options: BulkheadTargetOptions): Target {
  const base = options.url.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const send = options.send ?? httpSender(base, options.timeoutMs ?? 10_000);
  // Allocating a backend resource and running a backend's probe take longer than an API answer.
  const provisionTimeoutMs = options.provisionTimeoutMs ?? 120_000;
  const slowSend = options.send ?? httpSender(base, provisionTimeoutMs);
  const operator = { authorization: `Bearer ${options.operatorToken}` };
  const created: string[] = [];
  const grants: string[] = [];
  const run = randomBytes(4).toString('hex');
  let probeDomains: { a: Domain; b: Domain } | null = null;
  let probeRound = 0;

  async function call<T>(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
    expect: readonly number[] = [200, 201],
  ): Promise<{ json: T; exchange: Exchange }> {
    const exchange = await send({
      method,
      path,
      headers,
      ...(body === undefined
        ? {}
        : typeof body === 'string'
          ? { body: { contentType: 'application/octet-stream', raw: body } }
          : { body: { contentType: 'application/json', raw: JSON.stringify(body) } }),
    });
    if (exchange.status === 401 && headers === operator)
      throw new ConfigError(`${base} refused the operator token (HTTP 401)`);
    if (!expect.includes(exchange.status))
      throw new TargetError(`${method} ${path}: HTTP ${exchange.status} ${exchange.text.slice(0, 300)}`);
    return { json: (exchange.text === '' ? null : JSON.parse(exchange.text)) as T, exchange };
  }

  async function createDomain(label: string): Promise<Domain> {
    const slug = `verify-${label}-${run}`;
    const { json: domain } = await call<{ id: string }>('POST', '/v1/domains', operator, {
      slug,
      name: `bulkhead verify probe ${label.toUpperCase()}`,
    });
    created.push(domain.id);
    const d = `/v1/domains/${domain.id}`;
    const { json: key } = await call<{ key: string }>('POST', `${d}/keys`, operator, {
      name: 'bulkhead verify',
      scopes: probeKeyScopes,
    });
    const email = `verify-${label}@example.com`;
    const password = randomBytes(24).toString('base64url');
    await call('POST', `${d}/principals`, operator, { kind: 'user', email, password });
    const { json: token } = await call<{ access_token: string }>(
      'POST',
      '/v1/auth/token',
      {},
      {
        grant_type: 'password',
        domain: domain.id,
        username: email,
        password,
      },
    );
    // A sign-in that sets a cookie must name the server's own site, as a browser on it would.
    const { exchange: login } = await call(
      'POST',
      '/v1/auth/login',
      { origin },
      { domain: domain.id, username: email, password },
    );
    const cookie = (login.headers['set-cookie'] ?? '').split(';')[0] ?? '';
    if (!cookie.includes('=')) throw new TargetError('POST /v1/auth/login set no session cookie');
    // A portal host of its own, where the domain's person signs in (verify names the host itself in
    // each request, so it needs no DNS).
    const host = `${slug}.portal.invalid`;
    const displayName = `bulkhead verify probe ${label.toUpperCase()} ${run}`;
    await call('PUT', `${d}/portal`, operator, { hosts: [host], displayName });
    return {
      id: domain.id,
      slug,
      key: key.key,
      token: token.access_token,
      cookie,
      email,
      password,
      host,
      displayName,
    };
  }

  /** Signs A's person in at A's portal host as a browser does; A's portal session and form token. */
  async function portalSession(d: Domain): Promise<HostSetup['session'] & { csrf: string }> {
    const page = await send({ method: 'GET', path: '/sign-in', headers: { host: d.host } });
    const binding = cookieSet(page.headers['set-cookie'], signInCookie);
    const csrf = formTokenOf(page.text);
    if (page.status !== 200 || binding === null || csrf === null)
      throw new TargetError(`GET /sign-in at ${d.host}: HTTP ${page.status}, no sign-in form`);
    const res = await send({
      method: 'POST',
      path: '/sign-in',
      headers: { host: d.host, origin: `https://${d.host}`, cookie: binding },
      body: {
        contentType: 'application/x-www-form-urlencoded',
        raw: new URLSearchParams({ csrf, email: d.email, password: d.password }).toString(),
      },
    });
    const cookie = cookieSet(res.headers['set-cookie'], portalCookie);
    if (cookie === null)
      throw new TargetError(`POST /sign-in at ${d.host}: HTTP ${res.status}, no portal session`);
    const sessions = await send({ method: 'GET', path: '/sessions', headers: { host: d.host, cookie } });
    const token = formTokenOf(sessions.text);
    if (token === null) throw new TargetError(`GET /sessions at ${d.host}: HTTP ${sessions.status}, no form`);
    return { cookie, csrf: token };
  }

  /** A confidential OAuth client of the domain's issuer. */
  async function oauthClientOf(d: Domain): Promise<OAuthClientCreated> {
    const { json } = await call<OAuthClientCreated>('POST', `/v1/domains/${d.id}/oauth-clients`, operator, {
      name: `${d.slug}-app`,
      kind: 'confidential',
      redirectUris: [`https://${d.slug}.probe.example/callback`],
      grantTypes: ['authorization_code', 'refresh_token'],
    });
    return json;
  }

  /**
   * Each domain's issuer, as its discovery document names its endpoints, and A's tokens of a session of
   * their own (the OAuth attacks revoke and refresh them, which must not touch A's other credentials).
   * Null when the server has no public URL: its domains are then no OpenID Providers. `at`: the issuers
   * at the control plane's path (`/d/<slug>`), or those of the domains' portal hosts (`https://<host>`).
   */
  async function oauthSetup(
    a: Domain,
    b: Domain,
    aClient: OAuthClientCreated,
    bClient: OAuthClientCreated,
    at: 'path' | 'portal-host',
  ): Promise<OAuthSetup | null> {
    const endpoints = async (d: Domain) => {
      const res = await send(
        at === 'path'
          ? { method: 'GET', path: `/d/${d.slug}/.well-known/openid-configuration` }
          : { method: 'GET', path: '/.well-known/openid-configuration', headers: { host: d.host } },
      );
      if (res.status === 404) return null;
      if (res.status !== 200) throw new TargetError(`discovery of ${d.slug}: HTTP ${res.status}`);
      const doc = JSON.parse(res.text) as Record<string, string>;
      const path = (name: string) => {
        const url = doc[name];
        if (typeof url !== 'string') throw new TargetError(`discovery of ${d.slug} names no ${name}`);
        return new URL(url).pathname;
      };
      return {
        tokenPath: path('token_endpoint'),
        introspectionPath: path('introspection_endpoint'),
        revocationPath: path('revocation_endpoint'),
        ...(at === 'portal-host' ? { host: d.host } : {}),
      };
    };
    const [aEndpoints, bEndpoints] = await Promise.all([endpoints(a), endpoints(b)]);
    if (aEndpoints === null || bEndpoints === null) return null;
    const { json: tokens } = await call<{ access_token: string; refresh_token?: string }>(
      'POST',
      '/v1/auth/token',
      {},
      { grant_type: 'password', domain: a.id, username: a.email, password: a.password },
    );
    const client = (c: OAuthClientCreated) => ({ id: c.clientId, secret: c.clientSecret });
    return {
      ...(at === 'portal-host' ? { name: at } : {}),
      a: {
        ...aEndpoints,
        client: client(aClient),
        accessToken: tokens.access_token,
        ...(tokens.refresh_token === undefined ? {} : { refreshToken: tokens.refresh_token }),
      },
      b: { ...bEndpoints, client: client(bClient) },
    };
  }

  const credentials = (d: Domain): Credential[] => [
    { name: 'key', headers: { authorization: `Bearer ${d.key}` } },
    { name: 'token', headers: { authorization: `Bearer ${d.token}` } },
    // A cookie-authenticated change needs the Origin of the server's own site.
    { name: 'session', headers: { cookie: d.cookie }, writeHeaders: { origin } },
  ];

  /** Polls a resource until it is no longer provisioning, or the time is up; returns its last state. */
  async function ready(
    d: Domain,
    resource: { id: string; status: string },
    timeoutMs: number,
  ): Promise<{ id: string; status: string }> {
    const key = { authorization: `Bearer ${d.key}` };
    const until = Date.now() + timeoutMs;
    let current = resource;
    while (current.status !== 'ready' && current.status !== 'failed' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      current = (
        await call<{ id: string; status: string }>('GET', `/v1/domains/${d.id}/resources/${current.id}`, key)
      ).json;
    }
    return current;
  }

  /** Gives a domain an instance, a volume and a storage resource holding one object; returns their ids. */
  async function furnish(d: Domain, label: string, content: string): Promise<Record<string, string>> {
    const key = { authorization: `Bearer ${d.key}` };
    const p = `/v1/domains/${d.id}`;
    const { json: instance } = await call<{ id: string }>('POST', `${p}/instances`, key, {
      name: `${label}-web`,
    });
    const { json: volume } = await call<{ id: string }>('POST', `${p}/volumes`, key, {
      name: `${label}-data`,
      sizeBytes: 4096,
    });
    let { json: resource } = await call<{ id: string; status: string }>(
      'POST',
      `${p}/resources`,
      key,
      { kind: 'storage', name: `${label}-files` },
      [200, 201, 202],
    );
    resource = await ready(d, resource, 10_000);
    if (resource.status !== 'ready')
      throw new TargetError(`the storage resource of ${label} is ${resource.status}`);
    const object = `${label}-${secretObject}`;
    await call('PUT', `${p}/resources/${resource.id}/objects/${object}`, key, content);
    return {
      domainId: d.id,
      instanceId: instance.id,
      volumeId: volume.id,
      resourceId: resource.id,
      // The object's key (the document's {key}, the route's wildcard).
      key: object,
    };
  }

  /** The `code` and `detail` of a problem+json answer, empty when the answer is something else. */
  function problemOf(exchange: Exchange): { code: string; detail: string } {
    try {
      const p = JSON.parse(exchange.text) as { code?: unknown; detail?: unknown };
      return {
        code: typeof p.code === 'string' ? p.code : '',
        detail: typeof p.detail === 'string' ? p.detail : '',
      };
    } catch {
      return { code: '', detail: '' };
    }
  }

  async function remove(domainId: string): Promise<string[]> {
    const problems: string[] = [];
    const p = `/v1/domains/${domainId}`;
    const attempt = async (
      method: string,
      path: string,
      ok: readonly number[] = [200, 202, 204, 404, 409],
    ) => {
      const res = await send({ method, path, headers: operator });
      if (!ok.includes(res.status)) problems.push(`${method} ${path}: HTTP ${res.status}`);
      return res;
    };
    const list = async (what: string) => {
      const res = await attempt('GET', `${p}/${what}`, [200, 404]);
      if (res.status !== 200) return [];
      return (JSON.parse(res.text) as { items: { id: string; status: string }[] }).items;
    };
    for (const v of await list('volumes')) {
      if (v.status === 'deleted') continue;
      if (v.status === 'attached') await attempt('POST', `${p}/volumes/${v.id}/detach`);
      await attempt('DELETE', `${p}/volumes/${v.id}`);
    }
    for (const i of await list('instances'))
      if (i.status !== 'deleted') await attempt('DELETE', `${p}/instances/${i.id}`);
    for (const r of await list('resources'))
      if (r.status !== 'deleted' && r.status !== 'deprovisioning')
        await attempt('DELETE', `${p}/resources/${r.id}`);
    await attempt('DELETE', p, [200, 404]);
    return problems;
  }

  /** Creates a resource of `kind` in A and in B, and has the server probe B's with A's credentials. */
  async function probeKind(kind: string, a: Domain, b: Domain, round: number): Promise<ProviderProbe> {
    const none = { attempts: 0, notRefused: [] };
    const failed = (reason: string): ProviderProbe => ({ kind, outcome: 'failed', ...none, reason });
    const created = await Promise.all(
      [a, b].map(async (d) => {
        const res = await slowSend({
          method: 'POST',
          path: `/v1/domains/${d.id}/resources`,
          headers: { authorization: `Bearer ${d.key}` },
          body: {
            contentType: 'application/json',
            raw: JSON.stringify({ kind, name: `verify-probe-${kind}-${round}` }),
          },
        });
        return { d, res };
      }),
    );
    const unsupported = created.find(
      ({ res }) => res.status === 400 && problemOf(res).code === 'unsupported_kind',
    );
    if (unsupported !== undefined)
      return { kind, outcome: 'not_configured', ...none, reason: 'not configured on this server' };
    const sides: { domainId: string; resourceId: string }[] = [];
    for (const { d, res } of created) {
      if (![200, 201, 202].includes(res.status))
        return failed(
          `creating ${d === a ? "A's" : "B's"} resource: HTTP ${res.status} ${problemOf(res).code}`,
        );
      const resource = await ready(
        d,
        JSON.parse(res.text) as { id: string; status: string },
        provisionTimeoutMs,
      );
      if (resource.status !== 'ready')
        return failed(`${d === a ? "A's" : "B's"} resource is ${resource.status}`);
      sides.push({ domainId: d.id, resourceId: resource.id });
    }
    const res = await slowSend({
      method: 'POST',
      path: '/v1/verify/provider-probes',
      headers: operator,
      body: { contentType: 'application/json', raw: JSON.stringify({ a: sides[0], b: sides[1] }) },
    });
    if (res.status !== 200)
      return failed(`POST /v1/verify/provider-probes: HTTP ${res.status} ${problemOf(res).detail}`.trim());
    const report = JSON.parse(res.text) as {
      refused: boolean;
      attempts: { attempt: string; refused: boolean; detail: string }[];
    };
    const notRefused = report.attempts.filter((x) => !x.refused).map((x) => `${x.attempt}: ${x.detail}`);
    return {
      kind,
      // Refused only when the server says so and no attempt says otherwise.
      outcome: report.refused && notRefused.length === 0 ? 'refused' : 'not_refused',
      attempts: report.attempts.length,
      notRefused: notRefused.length > 0 ? notRefused : report.refused ? [] : ['the probe reports a failure'],
      reason: null,
    };
  }

  return {
    name: base,
    async probeProviders(): Promise<ProviderProbe[]> {
      if (probeDomains === null) throw new TargetError('the probe domains are not set up');
      const { a, b } = probeDomains;
      const round = ++probeRound;
      // One kind at a time: the probes run on the server, and some (embedded PostgreSQL) are heavy.
      const probes: ProviderProbe[] = [];
      for (const kind of resourceKinds) {
        probes.push(
          await probeKind(kind, a, b, round).catch((error: unknown) => ({
            kind,
            outcome: 'failed' as const,
            attempts: 0,
            notRefused: [],
            reason: (error as Error).message,
          })),
        );
      }
      return probes;
    },
    async setup(): Promise<ProbeSetup> {
      const [a, b] = await Promise.all([createDomain('a'), createDomain('b')]);
      probeDomains = { a, b };
      const secret = `bulkhead-verify-B-${randomBytes(12).toString('hex')}`;
      const [bIds, aIds] = await Promise.all([
        furnish(b, 'b', secret),
        furnish(a, 'a', `bulkhead-verify-A-${run}`),
      ]);
      const bKey = { authorization: `Bearer ${b.key}` };
      const { json: keys } = await call<{ items: { id: string }[] }>('GET', `/v1/domains/${b.id}/keys`, bKey);
      const { json: principals } = await call<{ items: { id: string }[] }>(
        'GET',
        `/v1/domains/${b.id}/principals`,
        operator,
      );
      const { json: whoami } = await call<{ sessionId: string }>('GET', '/v1/whoami', { cookie: b.cookie });
      const { json: blueprint } = await call<{ id: string }>('POST', `/v1/domains/${b.id}/blueprints`, bKey, {
        name: 'b-set',
        resources: [{ kind: 'storage', name: 'b-set-files' }],
      });
      // A grant that lets B read A's instances: it names B, and gives A nothing in B.
      const { json: grant } = await call<{ id: string }>('POST', '/v1/grants', operator, {
        from: b.id,
        to: a.id,
        actions: ['instances.read'],
        resources: ['*'],
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        reason: 'bulkhead verify probe',
      });
      grants.push(grant.id);
      // An invoice of each: last month closed for each domain alone (neither used anything, so it has no
      // line), which bills no other domain and leaves the price book as it is. A's own is read back by
      // A's own calls (its JSON and its PDF), so that the billing routes are exercised, not only refused.
      const lastMonth = new Date();
      lastMonth.setUTCDate(1);
      lastMonth.setUTCMonth(lastMonth.getUTCMonth() - 1);
      const period = lastMonth.toISOString().slice(0, 7);
      const invoiceOf = async (d: Domain, name: string) => {
        await call('POST', `/v1/domains/${d.id}/billing/periods/${period}/close`, operator);
        const { json } = await call<{ items: { id: string }[] }>(
          'GET',
          `/v1/domains/${d.id}/invoices`,
          operator,
        );
        // Billing details, printed on the invoices: B's name is B's secret, so any answer to A that
        // carried it would be a leak.
        await call('PUT', `/v1/domains/${d.id}/billing`, operator, {
          name,
          addressLines: ['1 Probe Street'],
          city: 'Probe',
          postalCode: '00000',
          country: 'DE',
          email: 'billing@probe.example',
        });
        return json.items[0]!.id;
      };
      const [bInvoice, aInvoice] = await Promise.all([
        invoiceOf(b, secret),
        invoiceOf(a, `bulkhead verify probe A ${run}`),
      ]);
      // An OAuth client of each: B's id is B's to name, its secret B's to keep; A's is tried at B's issuer.
      const [oauthClient, aClient] = await Promise.all([oauthClientOf(b), oauthClientOf(a)]);
      const issuers = await Promise.all(
        (['path', 'portal-host'] as const).map((at) => oauthSetup(a, b, aClient, oauthClient, at)),
      );
      const oauth = issuers.filter((setup) => setup !== null);
      // A's person signed in at A's portal host: that cookie is replayed at B's host on every portal route.
      const [routes, aPortal] = await Promise.all([portalRoutes(), portalSession(a)]);
      const { csrf: aFormToken, ...aSession } = aPortal;
      const probe = (d: Domain, ids: Record<string, string>, secrets: string[]): ProbeDomain => ({
        id: d.id,
        credentials: credentials(d),
        ids,
        secrets,
      });
      return {
        baseUrl: base,
        a: probe(
          a,
          { ...aIds, slug: a.slug, invoiceId: aInvoice, period, paymentMethodId: `pm_verifya${run}` },
          [],
        ),
        b: probe(
          b,
          {
            ...bIds,
            slug: b.slug,
            keyId: keys.items[0]!.id,
            principalId: principals.items[0]!.id,
            sessionId: whoami.sessionId,
            blueprintId: blueprint.id,
            grantId: grant.id,
            invoiceId: bInvoice,
            oauthClientId: oauthClient.id,
            period,
            // A payment method id of the form Stripe gives: verify cannot attach a card to B's customer
            // (cards are attached in the browser, by Stripe.js), and A's credentials at B's domain are
            // refused before the id is read, exactly as at an unknown domain.
            paymentMethodId: `pm_verify${run}`,
          },
          [secret, oauthClient.clientSecret, oauthClient.clientId],
        ),
        // A's access token, forged and edited towards B at every operation (B's domain and audience), and
        // presented as from B's issuer.
        tokens: {
          token: a.token,
          jwksUrls: [`${base}/v1/domains/${a.id}/jwks.json`, `${base}/.well-known/jwks.json`],
          foreignClaims: { dom: b.id, aud: audienceOf(b.id) },
          ...issuerOf(b.token),
        },
        ...(oauth.length === 0 ? {} : { oauth }),
        // An issuer's slug is public (its discovery document is): A's credentials at B's issuer are
        // compared with no credential there, since an unknown slug is 404.
        publicTenantParams: ['slug'],
        // A period of the same form that is not B's (`0000-00` is not a month at all).
        unknownIds: { period: '2000-01' },
        // Storage is the kind the embedded defaults provide; object bodies are raw bytes.
        bodies: {
          createResource: { json: { kind: 'storage', name: '{{unique}}' } },
          createBlueprint: {
            json: { name: '{{unique}}', resources: [{ kind: 'storage', name: '{{unique}}' }] },
          },
          putObject: { contentType: 'application/octet-stream', raw: 'bulkhead verify' },
          createOAuthClient: {
            json: {
              name: '{{unique}}',
              kind: 'confidential',
              redirectUris: ['https://probe.example/callback'],
              grantTypes: ['authorization_code'],
            },
          },
          // A valid book, so that A's credentials reach the operator check (they are refused there).
          setPrices: { json: { currency: 'EUR', meters: [] } },
          // Valid details, so that A's credentials on B's reach the domain check (and get its 404).
          setBillingDetails: {
            json: {
              name: 'bulkhead verify',
              addressLines: ['1 Probe Street'],
              city: 'Probe',
              postalCode: '00000',
              country: 'DE',
              email: 'verify@probe.example',
            },
          },
        },
        hosts: {
          a: a.host,
          b: b.host,
          session: aSession,
          formToken: { field: 'csrf', value: aFormToken },
          routes,
          aMarkers: [a.displayName, a.email],
        },
        // The operator also reads B's state, so that operator-only reads (principals, pool) are compared.
        stateReaders: [{ name: 'operator', headers: operator }],
      };
    },
    async teardown(): Promise<string[]> {
      probeDomains = null;
      const problems: string[] = [];
      for (const id of grants.splice(0)) {
        const res = await send({ method: 'DELETE', path: `/v1/grants/${id}`, headers: operator });
        if (res.status !== 200 && res.status !== 404)
          problems.push(`DELETE /v1/grants/${id}: HTTP ${res.status}`);
      }
      for (const id of created.splice(0)) problems.push(...(await remove(id)));
      return problems;
    },
  };
}
