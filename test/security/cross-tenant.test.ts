// Every route, attacked. The test walks the server's own route table: a route that works in a domain
// must have a case here (or a stated reason it needs none), or the test fails. Each case sends domain A's
// credentials — its key, an access token and a session, each where the route accepts it — at domain B's
// things, and expects exactly the answer an unknown id gets; at the end B is exactly as it was. The scope
// matrix does the same inside one domain: every route a key can reach must declare the scope it needs, and
// a key of B that lacks it (the kind, or just the action) is refused with B left as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/types.js';
import type { CredentialKind } from '../../src/policy/principal.js';
import { validScopes, type RouteScope, type ScopeAction } from '../../src/policy/scopes.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import type { TestProviders } from '../helpers/providers.js';
import { startTestStripe, type TestStripe } from '../helpers/stripe-server.js';
import {
  comparable,
  createTenant,
  credentialHeaders,
  domainState,
  type CredentialName,
  type Tenant,
} from '../helpers/tenants.js';

interface Ids {
  domainId: string;
  keyId: string;
  resourceId: string;
  principalId: string;
  sessionId: string;
  instanceId: string;
  volumeId: string;
  blueprintId: string;
  invoiceId: string;
  paymentMethodId: string;
  oauthClientId: string;
}

const unknownIds: Ids = {
  domainId: 'dom_00000000000000000000000000',
  keyId: 'key_00000000000000000000000000',
  resourceId: 'res_00000000000000000000000000',
  principalId: 'prn_00000000000000000000000000',
  sessionId: 'ses_00000000000000000000000000',
  oauthClientId: 'ocl_00000000000000000000000000',
  instanceId: 'ins_00000000000000000000000000',
  volumeId: 'vol_00000000000000000000000000',
  blueprintId: 'bpr_00000000000000000000000000',
  invoiceId: 'inv_00000000000000000000000000',
  paymentMethodId: 'pm_000000000000000000000000',
};

/** A month that has ended, for B's invoice, and the range its usage is read over. */
const billedMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 10));
const usageRange = `from=${billedMonth.toISOString().slice(0, 8)}01T00:00:00Z&to=2100-01-01T00:00:00Z`;

interface Case {
  readonly path: (ids: Ids) => string;
  readonly body?: (ids: Ids) => unknown;
}

/** A case for every route that names a domain in its path, keyed by method and route. */
const cases: Record<string, Case> = {
  'GET /v1/domains/:domainId': { path: (i) => `/v1/domains/${i.domainId}` },
  'POST /v1/domains/:domainId/suspend': { path: (i) => `/v1/domains/${i.domainId}/suspend` },
  'POST /v1/domains/:domainId/resume': { path: (i) => `/v1/domains/${i.domainId}/resume` },
  'DELETE /v1/domains/:domainId': { path: (i) => `/v1/domains/${i.domainId}` },
  'POST /v1/domains/:domainId/keys': { path: (i) => `/v1/domains/${i.domainId}/keys`, body: () => ({}) },
  'GET /v1/domains/:domainId/keys': { path: (i) => `/v1/domains/${i.domainId}/keys` },
  'GET /v1/domains/:domainId/keys/:keyId': { path: (i) => `/v1/domains/${i.domainId}/keys/${i.keyId}` },
  'DELETE /v1/domains/:domainId/keys/:keyId': { path: (i) => `/v1/domains/${i.domainId}/keys/${i.keyId}` },
  'POST /v1/domains/:domainId/keys/:keyId/rotate': {
    path: (i) => `/v1/domains/${i.domainId}/keys/${i.keyId}/rotate`,
    body: () => ({}),
  },
  'POST /v1/domains/:domainId/resources': {
    path: (i) => `/v1/domains/${i.domainId}/resources`,
    body: () => ({ kind: 'storage', name: 'smuggled' }),
  },
  'GET /v1/domains/:domainId/resources': { path: (i) => `/v1/domains/${i.domainId}/resources` },
  'GET /v1/domains/:domainId/resources/:resourceId': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}`,
  },
  'GET /v1/domains/:domainId/resources/:resourceId/credentials': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}/credentials`,
  },
  'POST /v1/domains/:domainId/resources/:resourceId/credentials/rotate': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}/credentials/rotate`,
  },
  'DELETE /v1/domains/:domainId/resources/:resourceId': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}`,
  },
  'POST /v1/domains/:domainId/blueprints': {
    path: (i) => `/v1/domains/${i.domainId}/blueprints`,
    body: () => ({ name: 'smuggled', resources: [{ kind: 'storage', name: 'smuggled' }] }),
  },
  'GET /v1/domains/:domainId/blueprints/:blueprintId': {
    path: (i) => `/v1/domains/${i.domainId}/blueprints/${i.blueprintId}`,
  },
  'GET /v1/domains/:domainId/pool': { path: (i) => `/v1/domains/${i.domainId}/pool` },
  'PUT /v1/domains/:domainId/pool': {
    path: (i) => `/v1/domains/${i.domainId}/pool`,
    body: () => ({ quotas: { storage: 0 } }),
  },
  'GET /v1/domains/:domainId/signing-keys': { path: (i) => `/v1/domains/${i.domainId}/signing-keys` },
  'POST /v1/domains/:domainId/signing-keys/rotate': {
    path: (i) => `/v1/domains/${i.domainId}/signing-keys/rotate`,
  },
  'POST /v1/domains/:domainId/principals': {
    path: (i) => `/v1/domains/${i.domainId}/principals`,
    body: () => ({ kind: 'service' }),
  },
  'GET /v1/domains/:domainId/principals': { path: (i) => `/v1/domains/${i.domainId}/principals` },
  'GET /v1/domains/:domainId/principals/:principalId': {
    path: (i) => `/v1/domains/${i.domainId}/principals/${i.principalId}`,
  },
  'POST /v1/domains/:domainId/principals/:principalId/disable': {
    path: (i) => `/v1/domains/${i.domainId}/principals/${i.principalId}/disable`,
  },
  'POST /v1/domains/:domainId/principals/:principalId/password': {
    path: (i) => `/v1/domains/${i.domainId}/principals/${i.principalId}/password`,
    body: () => ({ password: 'smuggled password 0123' }),
  },
  'PUT /v1/domains/:domainId/principals/:principalId/role': {
    path: (i) => `/v1/domains/${i.domainId}/principals/${i.principalId}/role`,
    // B's principal is its admin: a demotion would be a change.
    body: () => ({ role: 'member' }),
  },
  'DELETE /v1/domains/:domainId/principals/:principalId': {
    path: (i) => `/v1/domains/${i.domainId}/principals/${i.principalId}`,
  },
  'POST /v1/domains/:domainId/oauth-clients': {
    path: (i) => `/v1/domains/${i.domainId}/oauth-clients`,
    body: () => ({
      name: 'smuggled',
      kind: 'confidential',
      redirectUris: ['https://evil.example/cb'],
      grantTypes: ['authorization_code'],
    }),
  },
  'GET /v1/domains/:domainId/oauth-clients': { path: (i) => `/v1/domains/${i.domainId}/oauth-clients` },
  'GET /v1/domains/:domainId/oauth-clients/:oauthClientId': {
    path: (i) => `/v1/domains/${i.domainId}/oauth-clients/${i.oauthClientId}`,
  },
  'DELETE /v1/domains/:domainId/oauth-clients/:oauthClientId': {
    path: (i) => `/v1/domains/${i.domainId}/oauth-clients/${i.oauthClientId}`,
  },
  'DELETE /v1/domains/:domainId/sessions/:sessionId': {
    path: (i) => `/v1/domains/${i.domainId}/sessions/${i.sessionId}`,
  },
  'POST /v1/domains/:domainId/instances': {
    path: (i) => `/v1/domains/${i.domainId}/instances`,
    body: () => ({ name: 'smuggled' }),
  },
  'GET /v1/domains/:domainId/instances': { path: (i) => `/v1/domains/${i.domainId}/instances` },
  'GET /v1/domains/:domainId/instances/:instanceId': {
    path: (i) => `/v1/domains/${i.domainId}/instances/${i.instanceId}`,
  },
  'DELETE /v1/domains/:domainId/instances/:instanceId': {
    path: (i) => `/v1/domains/${i.domainId}/instances/${i.instanceId}`,
  },
  'POST /v1/domains/:domainId/volumes': {
    path: (i) => `/v1/domains/${i.domainId}/volumes`,
    body: () => ({ name: 'smuggled', sizeBytes: 4096 }),
  },
  'GET /v1/domains/:domainId/volumes': { path: (i) => `/v1/domains/${i.domainId}/volumes` },
  'GET /v1/domains/:domainId/volumes/:volumeId': {
    path: (i) => `/v1/domains/${i.domainId}/volumes/${i.volumeId}`,
  },
  'POST /v1/domains/:domainId/volumes/:volumeId/attach': {
    path: (i) => `/v1/domains/${i.domainId}/volumes/${i.volumeId}/attach`,
    body: (i) => ({ instanceId: i.instanceId }),
  },
  'POST /v1/domains/:domainId/volumes/:volumeId/detach': {
    path: (i) => `/v1/domains/${i.domainId}/volumes/${i.volumeId}/detach`,
  },
  'DELETE /v1/domains/:domainId/volumes/:volumeId': {
    path: (i) => `/v1/domains/${i.domainId}/volumes/${i.volumeId}`,
  },
  'PUT /v1/domains/:domainId/resources/:resourceId/objects/*': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}/objects/secret.txt`,
    body: () => 'overwritten',
  },
  'GET /v1/domains/:domainId/resources/:resourceId/objects/*': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}/objects/secret.txt`,
  },
  'DELETE /v1/domains/:domainId/resources/:resourceId/objects/*': {
    path: (i) => `/v1/domains/${i.domainId}/resources/${i.resourceId}/objects/secret.txt`,
  },
  'POST /v1/domains/:domainId/usage': {
    path: (i) => `/v1/domains/${i.domainId}/usage`,
    body: () => ({ meter: 'calls', quantity: 1000, eventId: 'smuggled', at: new Date().toISOString() }),
  },
  'GET /v1/domains/:domainId/usage': { path: (i) => `/v1/domains/${i.domainId}/usage?${usageRange}` },
  'GET /v1/domains/:domainId/invoices': { path: (i) => `/v1/domains/${i.domainId}/invoices` },
  'GET /v1/domains/:domainId/invoices/:invoiceId': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}`,
  },
  'POST /v1/domains/:domainId/invoices/:invoiceId/pay': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}/pay`,
    body: () => ({ reference: 'smuggled' }),
  },
  'POST /v1/domains/:domainId/invoices/:invoiceId/void': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}/void`,
  },
  'POST /v1/domains/:domainId/billing/periods/:period/close': {
    path: (i) => `/v1/domains/${i.domainId}/billing/periods/2000-01/close`,
  },
  'POST /v1/domains/:domainId/invoices/:invoiceId/uncollectible': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}/uncollectible`,
  },
  'POST /v1/domains/:domainId/billing/setup-intents': {
    path: (i) => `/v1/domains/${i.domainId}/billing/setup-intents`,
  },
  'GET /v1/domains/:domainId/billing/payment-methods': {
    path: (i) => `/v1/domains/${i.domainId}/billing/payment-methods`,
  },
  'DELETE /v1/domains/:domainId/billing/payment-methods/:paymentMethodId': {
    path: (i) => `/v1/domains/${i.domainId}/billing/payment-methods/${i.paymentMethodId}`,
  },
  'POST /v1/domains/:domainId/invoices/:invoiceId/charge': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}/charge`,
  },
  'GET /v1/domains/:domainId/invoices/:invoiceId.pdf': {
    path: (i) => `/v1/domains/${i.domainId}/invoices/${i.invoiceId}.pdf`,
  },
  'GET /v1/domains/:domainId/billing': { path: (i) => `/v1/domains/${i.domainId}/billing` },
  'GET /v1/domains/:domainId/portal': { path: (i) => `/v1/domains/${i.domainId}/portal` },
  'PUT /v1/domains/:domainId/portal': {
    path: (i) => `/v1/domains/${i.domainId}/portal`,
    body: () => ({ hosts: ['smuggled.example.com'], displayName: 'Smuggled' }),
  },
  'PUT /v1/domains/:domainId/portal/logo': {
    path: (i) => `/v1/domains/${i.domainId}/portal/logo`,
    body: () => 'not an image',
  },
  'PUT /v1/domains/:domainId/billing': {
    path: (i) => `/v1/domains/${i.domainId}/billing`,
    body: () => ({
      name: 'Smuggled Name',
      addressLines: ['1 Smuggled Road'],
      city: 'Nowhere',
      postalCode: '00000',
      country: 'FR',
      email: 'smuggled@example.com',
    }),
  },
};

/** The portal's pages: the host names the domain; each is attacked across hosts in portal/pages.test.ts. */
const portalPage =
  "a portal page: the domain is the host's, the session bound to its host (A's cookie and ids at B's host " +
  'in portal/pages.test.ts)';

/** The operator console's pages: at the control plane's host only, attacked in portal/console.test.ts. */
const consolePage =
  "the operator console: the operator token's holder only, at the control plane's own host (attacked in " +
  'portal/console.test.ts)';

/** A portal host's own issuer: its domain comes from the host, never from the request's credential. */
const portalIssuer =
  "the OpenID Provider of the portal host's own domain (`https://<host>`); A's tokens, clients, refresh " +
  "tokens, codes and hints at B's portal host are attacked in auth/oidc-portal-issuer.test.ts";

/** Routes that need no case, and why. Anything else without a case fails the test. */
const noTargetInPath: Record<string, string> = {
  'GET /openapi.json': 'public description of the API',
  'GET /healthz': 'public liveness',
  'GET /readyz': 'public readiness',
  'POST /v1/domains': 'operator only; names no existing domain',
  'GET /v1/domains': 'operator only (tenant refusal covered in api/http.test.ts)',
  'GET /v1/whoami': "answers about the caller's own credential only",
  'GET /v1/audit': 'operator only (tenant refusal covered in api/http.test.ts)',
  'GET /v1/audit/verify': 'operator only (tenant refusal covered in api/http.test.ts)',
  'GET /v1/domains/:domainId/jwks.json': "public keys, published on purpose for the domain's verifiers",
  'GET /.well-known/jwks.json': 'public keys, published on purpose',
  'GET /v1/revocations':
    "a domain's credential reads its own domain's revocations only (attacked in auth/revocation-feed.test.ts)",
  'GET /v1/revocations/jwks.json': "public keys of the revocation feed's signatures, published on purpose",
  'POST /v1/grants': 'operator only (tenant refusal covered in compute/api.test.ts)',
  'GET /v1/grants': 'operator only',
  'GET /v1/grants/:grantId': 'operator only',
  'DELETE /v1/grants/:grantId': 'operator only',
  'POST /v1/auth/token': 'the domain comes from the principal that authenticates',
  'POST /v1/auth/login': 'the domain comes from the principal that authenticates',
  'POST /v1/auth/logout': "ends the caller's own session only",
  'POST /v1/auth/revoke': 'revokes the session of the presented token only',
  'GET /d/:slug/.well-known/openid-configuration': "public discovery document of the slug's own issuer",
  'GET /d/:slug/.well-known/oauth-authorization-server': "public metadata of the slug's own issuer",
  'GET /.well-known/oauth-authorization-server/d/:slug': "public metadata of the slug's own issuer",
  'GET /d/:slug/jwks.json': "public keys, published on purpose for the domain's verifiers",
  'POST /d/:slug/token':
    "authenticates a client of the issuer's domain, not a bearer credential; A's clients and refresh tokens " +
    "at B's endpoint are attacked in auth/oidc.test.ts",
  'POST /d/:slug/revoke':
    "leaves any token of another domain alone; B's client at A's endpoint is attacked in auth/oidc.test.ts",
  'POST /d/:slug/introspect':
    "answers active:false for another domain's token; attacked in auth/oidc.test.ts",
  'GET /d/:slug/authorize':
    "codes only for the issuer's own clients and people; A's client, redirect URI and person at B are " +
    'attacked in auth/oidc-code.test.ts',
  'POST /d/:slug/authorize':
    "signs in only the issuer's own people (B's person at A is attacked in auth/oidc-code.test.ts)",
  'GET /d/:slug/userinfo':
    "answers 401 for another domain's token; attacked in auth/oidc-code.test.ts and by bulkhead verify",
  'POST /d/:slug/userinfo':
    "answers 401 for another domain's token; attacked in auth/oidc-code.test.ts and by bulkhead verify",
  'OPTIONS /d/:slug/token':
    "CORS preflight: allows only an origin one of the issuer's own clients registered (auth/oidc-code.test.ts)",
  'OPTIONS /d/:slug/userinfo':
    "CORS preflight: allows only an origin one of the issuer's own clients registered (auth/oidc-code.test.ts)",
  'GET /d/:slug/end-session':
    "ends only sessions of the person an ID token of the issuer's own domain names; A's hint at B is " +
    'attacked in auth/oidc-code.test.ts and auth/oidc-portal.test.ts',
  'GET /.well-known/openid-configuration': portalIssuer,
  'GET /.well-known/oauth-authorization-server': portalIssuer,
  'GET /jwks.json': portalIssuer,
  'GET /authorize': portalIssuer,
  'POST /token': portalIssuer,
  'OPTIONS /token': portalIssuer,
  'POST /revoke': portalIssuer,
  'POST /introspect': portalIssuer,
  'GET /userinfo': portalIssuer,
  'POST /userinfo': portalIssuer,
  'OPTIONS /userinfo': portalIssuer,
  'GET /end-session': portalIssuer,
  'GET /metrics':
    'counts of isolation runs, no domain; operator or metrics token (covered in verify/runs.test.ts)',
  'POST /v1/verify/provider-probes':
    'operator only; names its two domains in the body (tenant refusal covered in verify/provider-probes.test.ts)',
  'GET /v1/verify/runs':
    'operator only; runs belong to no domain (tenant refusal covered in verify/runs.test.ts)',
  'PUT /v1/billing/prices':
    'operator only; the price book belongs to no domain (refusal covered in billing/api.test.ts)',
  'GET /v1/billing/prices':
    'operator only; the price book belongs to no domain (refusal covered in billing/api.test.ts)',
  'POST /v1/billing/periods/:period/close':
    'operator only; closes every domain, each in its own transaction (refusal covered in billing/api.test.ts)',
  'GET /': portalPage,
  'GET /sign-in': portalPage,
  'POST /sign-in': portalPage,
  'POST /sign-out': portalPage,
  'GET /resources': portalPage,
  'GET /resources/:resourceId': portalPage,
  'POST /resources': portalPage,
  'POST /resources/:resourceId/delete': portalPage,
  'GET /members': portalPage,
  'GET /sessions': portalPage,
  'POST /members': portalPage,
  'POST /members/:principalId/disable': portalPage,
  'POST /members/:principalId/password': portalPage,
  'POST /members/:principalId/role': portalPage,
  'GET /audit': portalPage,
  'GET /audit.jsonl': portalPage,
  'GET /audit.csv': portalPage,
  'GET /usage': portalPage,
  'GET /invoices': portalPage,
  'GET /invoices/:invoiceId.pdf': portalPage,
  'GET /console': consolePage,
  'GET /console/sign-in': consolePage,
  'POST /console/sign-in': consolePage,
  'POST /console/sign-out': consolePage,
  'GET /console/domains': consolePage,
  'POST /console/domains': consolePage,
  'GET /console/domains/:domainId': consolePage,
  'POST /console/domains/:domainId/suspend': consolePage,
  'POST /console/domains/:domainId/resume': consolePage,
  'POST /console/domains/:domainId/delete': consolePage,
  'POST /console/domains/:domainId/portal': consolePage,
  'POST /console/domains/:domainId/keys': consolePage,
  'POST /console/domains/:domainId/keys/:keyId/revoke': consolePage,
  'GET /console/grants': consolePage,
  'POST /console/grants': consolePage,
  'POST /console/grants/:grantId/revoke': consolePage,
  'POST /sessions/:sessionId/end': portalPage,
  'POST /sessions/sign-out-everywhere': portalPage,
  'GET /portal-assets/portal.css': portalPage,
  'GET /portal-assets/portal.js': portalPage,
  'GET /portal-assets/logo': portalPage,
  'POST /v1/billing/stripe/webhook':
    "Stripe's, authenticated by its signature; changes only the domain whose customer the event names " +
    '(forged, replayed and foreign events covered in billing/stripe.test.ts)',
};

const credentialKind: Record<CredentialName, CredentialKind> = {
  key: 'provisioning_key',
  token: 'access_token',
  session: 'session',
};

describe.each(backends)('every route attacked across domains on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
  let bIds: Ids;
  let stripe: TestStripe;

  const send = (tenant: Tenant, credential: CredentialName, method: string, url: string, body?: unknown) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...credentialHeaders(tenant, credential, operatorToken, method),
        ...(typeof body === 'string' ? { 'content-type': 'application/octet-stream' } : {}),
      },
      ...(body === undefined ? {} : { payload: body as string }),
    });

  beforeAll(async () => {
    // Stripe configured (a local Stripe-shaped server), so that B has a customer and a payment method.
    stripe = await startTestStripe();
    ({ providers, services, app } = await openProvidedApi(backend, {
      stripe: { secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiUrl: stripe.url },
    }));
    a = await createTenant(app, operatorToken, `xt-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `xt-b-${backend.name}-${process.pid}`);
    const asB = (method: string, url: string, body?: unknown) => send(b, 'key', method, url, body);
    const keyId = (await asB('GET', `/v1/domains/${b.id}/keys`)).json<{ items: { id: string }[] }>().items[0]!
      .id;
    const resource = await asB('POST', `/v1/domains/${b.id}/resources`, { kind: 'storage', name: 'files' });
    expect(resource.statusCode, resource.body).toBe(201);
    const resourceId = resource.json<{ id: string }>().id;
    const put = await asB(
      'PUT',
      `/v1/domains/${b.id}/resources/${resourceId}/objects/secret.txt`,
      'B-SECRET',
    );
    expect(put.statusCode, put.body).toBe(200);
    const principals = await app.inject({
      method: 'GET',
      url: `/v1/domains/${b.id}/principals`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    const principalId = principals.json<{ items: { id: string }[] }>().items[0]!.id;
    const whoami = await send(b, 'session', 'GET', '/v1/whoami');
    const instanceId = (await asB('POST', `/v1/domains/${b.id}/instances`, { name: 'web' })).json<{
      id: string;
    }>().id;
    const volumeId = (
      await asB('POST', `/v1/domains/${b.id}/volumes`, { name: 'data', sizeBytes: 4096 })
    ).json<{
      id: string;
    }>().id;
    const blueprint = await asB('POST', `/v1/domains/${b.id}/blueprints`, {
      name: 'set',
      resources: [{ kind: 'storage', name: 'set-files' }],
    });
    expect(blueprint.statusCode, blueprint.body).toBe(201);
    // B's invoice: its usage of a month that has ended, closed by the operator.
    const operator = { authorization: `Bearer ${operatorToken}` };
    const book = await app.inject({
      method: 'PUT',
      url: '/v1/billing/prices',
      headers: operator,
      payload: { currency: 'EUR', meters: [{ meter: 'calls', unit: 'call', unitPrice: 2 }] },
    });
    expect(book.statusCode, book.body).toBe(200);
    const used = await app.inject({
      method: 'POST',
      url: `/v1/domains/${b.id}/usage`,
      headers: operator,
      payload: { meter: 'calls', quantity: 7, eventId: 'b-usage', at: billedMonth.toISOString() },
    });
    expect(used.statusCode, used.body).toBe(201);
    const period = billedMonth.toISOString().slice(0, 7);
    const close = await app.inject({
      method: 'POST',
      url: `/v1/billing/periods/${period}/close`,
      headers: operator,
    });
    expect(close.statusCode, close.body).toBe(200);
    const invoices = await app.inject({
      method: 'GET',
      url: `/v1/domains/${b.id}/invoices`,
      headers: operator,
    });
    // B's Stripe customer, with a card attached as its page would through the SetupIntent.
    const setup = await app.inject({
      method: 'POST',
      url: `/v1/domains/${b.id}/billing/setup-intents`,
      headers: operator,
    });
    expect(setup.statusCode, setup.body).toBe(201);
    const customer = [...stripe.customers.values()][0]!;
    const card = stripe.attachCard(customer['id'] as string);
    // B's billing details, printed on its invoices.
    const details = await app.inject({
      method: 'PUT',
      url: `/v1/domains/${b.id}/billing`,
      headers: operator,
      payload: {
        name: 'B Secret Holdings',
        addressLines: ['9 Hidden Lane'],
        city: 'Bern',
        postalCode: '3000',
        country: 'CH',
        email: 'billing@b.example',
      },
    });
    expect(details.statusCode, details.body).toBe(200);
    // B's OAuth client, with a redirect URI of B's own.
    const oauthClient = await app.inject({
      method: 'POST',
      url: `/v1/domains/${b.id}/oauth-clients`,
      headers: operator,
      payload: {
        name: 'b-app',
        kind: 'confidential',
        redirectUris: ['https://b.example/cb'],
        grantTypes: ['authorization_code', 'refresh_token'],
      },
    });
    expect(oauthClient.statusCode, oauthClient.body).toBe(201);
    bIds = {
      oauthClientId: oauthClient.json<{ id: string }>().id,
      paymentMethodId: card['id'] as string,
      invoiceId: invoices.json<{ items: { id: string }[] }>().items[0]!.id,
      blueprintId: blueprint.json<{ id: string }>().id,
      domainId: b.id,
      keyId,
      resourceId,
      principalId,
      sessionId: whoami.json<{ sessionId: string }>().sessionId,
      instanceId,
      volumeId,
    };
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
    await stripe.close();
  });

  it('has a case for every route that names a domain, or a reason it needs none', () => {
    const missing = app.accessTable
      .map((r) => `${r.method} ${r.url}`)
      .filter((route) => cases[route] === undefined && noTargetInPath[route] === undefined);
    expect(missing).toEqual([]);
    // And no stale cases for routes that no longer exist.
    const routes = new Set(app.accessTable.map((r) => `${r.method} ${r.url}`));
    expect(Object.keys(cases).filter((c) => !routes.has(c))).toEqual([]);
    for (const route of app.accessTable) {
      if (route.url.includes(':domainId') && noTargetInPath[`${route.method} ${route.url}`] === undefined)
        expect(route.access?.credentials.length, route.url).toBeGreaterThan(0);
    }
  });

  it("answers A's key, token and session on B's things exactly as on unknown ones, and B stays as it was", async () => {
    const before = await domainState(services, b.id);
    let attempts = 0;
    for (const route of app.accessTable) {
      const name = `${route.method} ${route.url}`;
      const c = cases[name];
      if (c === undefined) continue;
      for (const credential of ['key', 'token', 'session'] as const) {
        const foreign = await send(a, credential, route.method, c.path(bIds), c.body?.(bIds));
        const unknown = await send(a, credential, route.method, c.path(unknownIds), c.body?.(unknownIds));
        const label = `${credential} → ${name}: ${foreign.body}`;
        const accepted = route.access?.credentials.includes(credentialKind[credential]) === true;
        if (accepted) expect(foreign.statusCode, label).toBe(404);
        else expect([401, 403], label).toContain(foreign.statusCode);
        expect(comparable(foreign), label).toEqual(comparable(unknown));
        expect(foreign.body, label).not.toContain('B-SECRET');
        for (const id of Object.values(bIds).filter((v) => v !== b.id))
          expect(foreign.body, label).not.toContain(id);
        attempts++;
      }
    }
    expect(attempts).toBe(Object.keys(cases).length * 3);
    expect(await domainState(services, b.id)).toEqual(before);
    const object = await send(
      b,
      'key',
      'GET',
      `/v1/domains/${b.id}/resources/${bIds.resourceId}/objects/secret.txt`,
    );
    expect(object.body).toBe('B-SECRET');
    // B's own credentials all still work.
    for (const credential of ['key', 'token', 'session'] as const) {
      expect(
        (await send(b, credential, 'GET', `/v1/domains/${b.id}/volumes/${bIds.volumeId}`)).statusCode,
      ).toBe(200);
    }
  });

  it('has every route a key can reach declare the scope it needs', () => {
    const keyRoutes = app.accessTable.filter((r) => r.access?.credentials.includes('provisioning_key'));
    expect(keyRoutes.length).toBeGreaterThan(10);
    const undeclared = keyRoutes
      .filter((r) => {
        const scope = r.access?.scope;
        if (scope === undefined) return true;
        return 'unscoped' in scope && scope.unscoped.trim() === '';
      })
      .map((r) => `${r.method} ${r.url}`);
    expect(undeclared).toEqual([]);
  });

  it("refuses B's own key on every route whose scope it lacks (the kind, or only the action), and B stays as it was", async () => {
    // Every resource the cases name in B is a storage resource (or a blueprint of one, or a body of that
    // kind); the compute routes name B's instance or volume, scoped by `instances` or `volumes`.
    const allKinds = ['postgres', 'redis', 'rabbitmq', 'kubernetes', 'storage', 'instances', 'volumes'];
    // The kinds routes name themselves (compute and billing); every other route's is the storage of B's things.
    const fixedKinds = ['storage', 'instances', 'volumes', 'usage', 'invoices', 'payments', 'billing'];
    const kindOf = (scope: RouteScope) => ('kind' in scope ? scope.kind : 'storage');
    const withoutKind = (kind: string) => allKinds.filter((k) => k !== kind);
    const issue = async (scopes: string[]) => {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${b.id}/keys`,
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { name: `matrix ${scopes.join(' ')}`.slice(0, 100), scopes },
      });
      expect(res.statusCode, res.body).toBe(201);
      return { ...b, key: res.json<{ key: string }>().key };
    };
    const memo = new Map<string, Promise<Tenant>>();
    const once = (label: string, scopes: () => string[]) => {
      if (!memo.has(label)) memo.set(label, issue(scopes()));
      return memo.get(label)!;
    };
    // B's keys: one without the kind, one with every other action of the kind, one with the action alone.
    const kindMissing = (kind: string) => once(`-${kind}`, () => withoutKind(kind));
    const actionMissing = (kind: string, action: ScopeAction) =>
      once(`-${kind}:${action}`, () => [
        ...withoutKind(kind),
        ...validScopes.filter((s) => s.startsWith(`${kind}:`) && s !== `${kind}:${action}`),
      ]);
    const exactly = (kind: string, action: ScopeAction) =>
      once(`${kind}:${action}`, () => [`${kind}:${action}`]);
    const aKindMissing = new Map<string, Tenant>();
    for (const kind of fixedKinds) {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${a.id}/keys`,
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { scopes: withoutKind(kind) },
      });
      aKindMissing.set(kind, { ...a, key: res.json<{ key: string }>().key });
    }
    const minimal = await issue(['redis:read']);
    // Every key is issued before B's state is taken.
    for (const kind of fixedKinds) {
      await kindMissing(kind);
      for (const scope of validScopes.filter((s) => s.startsWith(`${kind}:`))) {
        const action = scope.slice(kind.length + 1) as ScopeAction;
        await actionMissing(kind, action);
        await exactly(kind, action);
      }
    }

    const before = await domainState(services, b.id);
    let refused = 0;
    for (const route of app.accessTable) {
      const name = `${route.method} ${route.url}`;
      const scope = route.access?.scope;
      if (route.access?.credentials.includes('provisioning_key') !== true || scope === undefined) continue;
      const c = cases[name];
      if ('unscoped' in scope) {
        // Reached by any key of the domain, even one scoped for a single action on another kind.
        if (route.method === 'GET' && c !== undefined) {
          const res = await send(minimal, 'key', route.method, c.path(bIds));
          expect(res.statusCode, `${name}: ${res.body}`).toBe(200);
        }
        continue;
      }
      expect(c, name).toBeDefined();
      if (c === undefined) continue;
      const kind = kindOf(scope);
      for (const [label, key] of [
        ['kind missing', await kindMissing(kind)],
        [`only ${kind}:${scope.action} missing`, await actionMissing(kind, scope.action)],
      ] as const) {
        const res = await send(key, 'key', route.method, c.path(bIds), c.body?.(bIds));
        const what = `${label} → ${name}: ${res.body}`;
        expect(res.body, what).not.toContain('B-SECRET');
        if ('kindFrom' in scope && scope.kindFrom === 'listed') {
          expect(res.statusCode, what).toBe(200);
          expect(
            res.json<{ items: { kind: string }[] }>().items.map((i) => i.kind),
            what,
          ).not.toContain('storage');
          expect(res.body, what).not.toContain(bIds.resourceId);
        } else {
          expect(res.statusCode, what).toBe(403);
          expect(res.json<{ code: string }>().code, what).toBe('scope_denied');
          refused++;
        }
        expect(await domainState(services, b.id), what).toEqual(before);
      }
      // Across domains a key lacking the scope still gets exactly the unknown id's answer.
      const aKey = aKindMissing.get(kind)!;
      const foreign = await send(aKey, 'key', route.method, c.path(bIds), c.body?.(bIds));
      const unknown = await send(aKey, 'key', route.method, c.path(unknownIds), c.body?.(unknownIds));
      expect(comparable(foreign), `A → ${name}`).toEqual(comparable(unknown));
      expect(foreign.statusCode, `A → ${name}`).toBe(404);
      if (route.method === 'GET' && !('kindFrom' in scope && scope.kindFrom === 'listed')) {
        // The route's own action on the kind, and nothing else, is enough.
        const res = await send(await exactly(kind, scope.action), 'key', route.method, c.path(bIds));
        expect(res.statusCode, `${kind}:${scope.action} → ${name}: ${res.body}`).toBe(200);
      }
    }
    expect(refused).toBeGreaterThanOrEqual(2 * 10);
    const object = await send(
      b,
      'key',
      'GET',
      `/v1/domains/${b.id}/resources/${bIds.resourceId}/objects/secret.txt`,
    );
    expect(object.body).toBe('B-SECRET');
  });

  it("keeps a key scoped for storage alone away from the domain's instances and volumes", async () => {
    const issue = async (scopes: string[]) => {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${b.id}/keys`,
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { scopes },
      });
      expect(res.statusCode, res.body).toBe(201);
      return { ...b, key: res.json<{ key: string }>().key };
    };
    const storageOnly = await issue(['storage']);
    const readOnly = await issue(['volumes:read', 'instances:read']);
    const before = await domainState(services, b.id);
    const attempts: [string, string, unknown?][] = [
      ['POST', `/v1/domains/${b.id}/instances`, { name: 'smuggled' }],
      ['GET', `/v1/domains/${b.id}/instances`],
      ['DELETE', `/v1/domains/${b.id}/instances/${bIds.instanceId}`],
      ['POST', `/v1/domains/${b.id}/volumes`, { name: 'smuggled', sizeBytes: 4096 }],
      ['GET', `/v1/domains/${b.id}/volumes/${bIds.volumeId}`],
      ['POST', `/v1/domains/${b.id}/volumes/${bIds.volumeId}/detach`, {}],
      ['DELETE', `/v1/domains/${b.id}/volumes/${bIds.volumeId}`],
    ];
    for (const [method, url, body] of attempts) {
      const res = await send(storageOnly, 'key', method, url, body);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
      expect(res.json<{ code: string }>().code).toBe('scope_denied');
    }
    for (const [method, url, body] of attempts.filter(([m]) => m !== 'GET')) {
      const res = await send(readOnly, 'key', method, url, body);
      expect(res.statusCode, `read-only ${method} ${url}: ${res.body}`).toBe(403);
    }
    expect(
      (await send(readOnly, 'key', 'GET', `/v1/domains/${b.id}/volumes/${bIds.volumeId}`)).statusCode,
    ).toBe(200);
    expect(await domainState(services, b.id)).toEqual(before);
    expect((await send(b, 'key', 'GET', `/v1/domains/${b.id}/volumes/${bIds.volumeId}`)).statusCode).toBe(
      200,
    );
  });

  it("lists only the caller's own items, whatever the query says", async () => {
    const lists = ['instances', 'volumes'];
    for (const list of lists) {
      const own = await send(a, 'key', 'GET', `/v1/domains/${a.id}/${list}`);
      expect(own.statusCode).toBe(200);
      const items = own.json<{ items: { domainId: string }[] }>().items;
      for (const item of items) expect(item.domainId).toBe(a.id);
      expect(own.body).not.toContain(b.id);
    }
    const resources = await send(a, 'key', 'GET', `/v1/domains/${a.id}/resources`);
    expect(resources.body).not.toContain(b.id);
  });
});
