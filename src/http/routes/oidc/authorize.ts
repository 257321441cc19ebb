// The authorization endpoint of a domain's OpenID Provider (RFC 6749 §4.1, OpenID Connect Core §3.1).
// Until the client and its redirect URI are known to be this domain's and registered exactly, nothing is
// sent to the redirect URI: the person sees a refusal page instead (RFC 6749 §4.1.2.1). After that,
// every refusal goes back to the client with `state` and `iss` (RFC 9207). PKCE with S256 is required of
// every client. Who signs the person in is the domain's portal when it has one: at the portal's host the
// portal's session (bound to that host) is the authentication and the portal's sign-in page asks for one;
// any other host hands the request on to the portal's host. Without a portal, a person signed in at this
// issuer (its own cookie, bound to this issuer) is not asked again; otherwise the issuer's plain sign-in
// page, with the portal's checks: a form token bound to a cookie of its own, this site's Origin, and one
// person check (identity/sign-in.ts) shared with the portal.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { requestHost } from '../../../domain/hosts.js';
import { signInRefusal } from '../../../identity/sign-in.js';
import { challengeShape, type AuthorizationCodes } from '../../../identity/oidc/codes.js';
import type { DomainIssuer } from '../../../identity/oidc/issuers.js';
import { portalCookie, readSessionCookie } from '../../../identity/sessions.js';
import { publicAccess } from '../../../policy/policy.js';
import type { Services } from '../../../runtime.js';
import type { OAuthClientRow } from '../../../store/schema.js';
import { checkSignInForm, signInBinding, signInFromForm } from '../../sign-in-form.js';
import type { App } from '../../types.js';
import { issuerAt, issuerOf, issuerRoute } from './issuer.js';
import { refusalPage, signInForm, type Branding } from './pages.js';
import { IssuerParams } from './schemas.js';

/** The session cookie of one issuer: a name per domain, so signing in at one never replaces another's. */
export const issuerCookie = (slug: string) => `__Host-bulkhead_oidc_${slug}`;
/** What an issuer's session is bound to, in the sessions' host column: no real host has two dots in a row. */
export const issuerBinding = (slug: string) => `oidc..${slug}`;
const signInCookie = '__Host-bulkhead_oidc_signin';
const cookieAttributes = 'Path=/; Secure; HttpOnly; SameSite=Lax';

const text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const AuthorizeQuery = Type.Object(
  {
    response_type: text(100),
    response_mode: text(40),
    client_id: text(100),
    redirect_uri: text(2000),
    scope: text(1000),
    state: text(2000),
    nonce: text(500),
    code_challenge: text(200),
    code_challenge_method: text(40),
    prompt: text(100),
    login_hint: text(320),
  },
  { additionalProperties: true },
);
type Query = Record<string, unknown>;

const SignInBody = Type.Object(
  {
    csrf: Type.String({ maxLength: 200 }),
    request: Type.String({ maxLength: 8000 }),
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: true },
);

/** An authorization request whose client and redirect URI are this domain's and registered. */
interface Checked {
  readonly issuer: DomainIssuer;
  readonly client: OAuthClientRow;
  readonly redirectUri: string;
  readonly state: string | undefined;
}

type Outcome =
  | { kind: 'page'; error: string; description: string }
  | { kind: 'redirect'; checked: Checked; error: string; description: string }
  | {
      kind: 'ok';
      checked: Checked;
      scope: string;
      nonce: string | null;
      challenge: string;
      prompt: string[];
      loginHint: string;
    };

const str = (q: Query, name: string): string | undefined =>
  typeof q[name] === 'string' ? q[name] : undefined;

async function check(services: Services, issuer: DomainIssuer, q: Query): Promise<Outcome> {
  const clientId = str(q, 'client_id');
  const client = clientId === undefined ? null : await services.oauthClients.find(issuer.domainId, clientId);
  if (client === null)
    return { kind: 'page', error: 'invalid_client', description: 'This application is not known here.' };
  const redirectUri = str(q, 'redirect_uri');
  // Compared as registered, character for character: no prefix, no normalisation.
  if (redirectUri === undefined || !client.redirect_uris.includes(redirectUri))
    return {
      kind: 'page',
      error: 'invalid_redirect_uri',
      description: 'The address to return to is not one this application registered.',
    };
  const checked: Checked = { issuer, client, redirectUri, state: str(q, 'state') };
  const refuse = (error: string, description: string): Outcome => ({
    kind: 'redirect',
    checked,
    error,
    description,
  });
  if (str(q, 'response_type') !== 'code')
    return refuse('unsupported_response_type', 'Only response_type=code is supported.');
  const mode = str(q, 'response_mode');
  if (mode !== undefined && mode !== 'query')
    return refuse('invalid_request', 'Only response_mode=query is supported.');
  if (!client.grant_types.includes('authorization_code'))
    return refuse('unauthorized_client', 'This client may not use the authorization code grant.');
  const challenge = str(q, 'code_challenge');
  if (
    str(q, 'code_challenge_method') !== 'S256' ||
    challenge === undefined ||
    !challengeShape.test(challenge)
  )
    return refuse('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256.');
  const scopes = (str(q, 'scope') ?? '').split(' ').filter((s) => s !== '');
  if (scopes.some((s) => !client.scopes.includes(s)))
    return refuse('invalid_scope', 'A scope asked for is not registered for this client.');
  const prompt = (str(q, 'prompt') ?? '').split(' ').filter((s) => s !== '');
  if (prompt.includes('none') && prompt.length > 1)
    return refuse('invalid_request', 'prompt=none cannot be combined with another value.');
  return {
    kind: 'ok',
    checked,
    scope: [...new Set(scopes)].join(' '),
    nonce: str(q, 'nonce') ?? null,
    challenge,
    prompt,
    loginHint: str(q, 'login_hint') ?? '',
  };
}

/** Sends the browser back to the client, with `state` and this issuer (RFC 9207). */
function back(reply: FastifyReply, checked: Checked, params: Record<string, string>) {
  const url = new URL(checked.redirectUri);
  for (const [name, value] of Object.entries(params)) url.searchParams.append(name, value);
  if (checked.state !== undefined) url.searchParams.append('state', checked.state);
  url.searchParams.append('iss', checked.issuer.issuer);
  reply.header('cache-control', 'no-store');
  return reply.redirect(url.href, 303);
}

async function brandingOf(services: Services, issuer: DomainIssuer): Promise<Branding> {
  const settings = await services.portal.get(issuer.domainId);
  return {
    displayName: settings.branding?.displayName ?? issuer.slug,
    primaryColor: settings.branding?.primaryColor ?? '#1f4f8f',
  };
}

/** The person signed in at this issuer (its cookie, its binding), or null. */
export async function issuerSession(services: Services, request: FastifyRequest, issuer: DomainIssuer) {
  const cookie = readSessionCookie(request.headers.cookie, issuerCookie(issuer.slug));
  if (cookie === null || cookie === 'ambiguous') return null;
  const found = await services.sessions.authenticatePortal(cookie.value, issuerBinding(issuer.slug));
  if (found === null || 'elsewhere' in found || found.domainId !== issuer.domainId) return null;
  return found;
}

export { cookieAttributes, brandingOf };

/**
 * The portal host of the issuer's domain this request came to, or null: the control plane's host, a host
 * of another domain, any other. Only at its own portal host does a domain's portal session count.
 */
export async function portalHostHere(services: Services, request: FastifyRequest, issuer: DomainIssuer) {
  const host = requestHost(request.host);
  if (host === null) return null;
  const { site } = await services.portal.siteAndSession(host, null, new Date());
  return site !== null && site.domainId === issuer.domainId ? host : null;
}

/** The person signed in at the domain's portal on this host (its cookie, bound to this host), or null. */
export async function portalSession(
  services: Services,
  request: FastifyRequest,
  issuer: DomainIssuer,
  host: string,
) {
  const cookie = readSessionCookie(request.headers.cookie, portalCookie);
  if (cookie === null || cookie === 'ambiguous') return null;
  const found = await services.sessions.authenticatePortal(cookie.value, host);
  // A session of another host, or (were the binding ever wrong) of another domain, is nobody here.
  if (found === null || 'elsewhere' in found || found.domainId !== issuer.domainId) return null;
  return found;
}

/**
 * The origin of the client an authorization request (a portal sign-in page's `next`, a path of the
 * portal's host) returns to, when its client and redirect URI are the domain's and registered; else
 * null. The portal's sign-in page lets its form lead there (CSP form-action covers the redirects that
 * follow a form), and nowhere else.
 */
export async function authorizationReturnOrigin(
  services: Services,
  domainId: string,
  next: string,
): Promise<string | null> {
  const url = new URL(next, 'https://portal.invalid');
  // The authorization endpoint of the domain's path issuer, or of this portal host's own issuer.
  if (!/^(?:\/d\/[a-z0-9-]{1,63})?\/authorize$/.test(url.pathname)) return null;
  const clientId = url.searchParams.get('client_id');
  const redirectUri = url.searchParams.get('redirect_uri');
  if (clientId === null || redirectUri === null) return null;
  const client = await services.oauthClients.find(domainId, clientId);
  if (client === null || !client.redirect_uris.includes(redirectUri)) return null;
  return new URL(redirectUri).origin;
}

/** The authorization request as the portal's sign-in page sends the person back to it. */
function afterPortalSignIn(request: FastifyRequest, prompt: readonly string[]): string {
  const url = new URL(request.url, 'https://portal.invalid');
  // Signing in again is what prompt=login asked; the request that follows it must not ask once more.
  const rest = prompt.filter((p) => p !== 'login');
  if (rest.length === 0) url.searchParams.delete('prompt');
  else url.searchParams.set('prompt', rest.join(' '));
  const next = `${url.pathname}${url.search}`;
  const fresh = prompt.includes('login') ? '&fresh=1' : '';
  return `/sign-in?next=${encodeURIComponent(next)}${fresh}`;
}

export function authorizeRoutes(app: App, services: Services, codes: AuthorizationCodes): void {
  const signedIn = (request: FastifyRequest, issuer: DomainIssuer) =>
    issuerSession(services, request, issuer);

  const grant = async (
    reply: FastifyReply,
    ok: Extract<Outcome, { kind: 'ok' }>,
    principalId: string,
    browserSessionId: string,
    authTime: Date,
  ) => {
    const code = await codes.issue({
      domainId: ok.checked.issuer.domainId,
      clientId: ok.checked.client.client_id,
      principalId,
      redirectUri: ok.checked.redirectUri,
      codeChallenge: ok.challenge,
      scope: ok.scope,
      nonce: ok.nonce,
      authTime,
      browserSessionId,
    });
    return back(reply, ok.checked, { code });
  };

  /** A code for a person signed in before (at the portal or at this issuer), since its session began. */
  const grantSignedIn = async (
    reply: FastifyReply,
    ok: Extract<Outcome, { kind: 'ok' }>,
    person: { readonly subject: string; readonly sessionId: string },
  ) =>
    grant(
      reply,
      ok,
      person.subject,
      person.sessionId,
      await codes.authTime(ok.checked.issuer.domainId, person.sessionId),
    );

  const formPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    ok: Extract<Outcome, { kind: 'ok' }>,
    query: string,
    options: { status?: number; message?: string; email?: string } = {},
  ) => {
    const binding = signInBinding(request, reply, { name: signInCookie, attributes: cookieAttributes });
    const issuer = ok.checked.issuer;
    return signInForm(reply, {
      branding: await brandingOf(services, issuer),
      action: new URL(`${issuer.issuer}/authorize`).pathname,
      request: query,
      csrf: services.sessions.formToken('oidc-sign-in', `${issuer.slug}\n${binding}`),
      email: options.email ?? ok.loginHint,
      message: options.message ?? null,
      status: options.status ?? 200,
      redirectOrigin: new URL(ok.checked.redirectUri).origin,
    });
  };

  /** What every outcome but success and the sign-in form answers. */
  const refused = async (
    reply: FastifyReply,
    issuer: DomainIssuer,
    outcome: Exclude<Outcome, { kind: 'ok' }>,
  ) =>
    outcome.kind === 'page'
      ? refusalPage(reply, await brandingOf(services, issuer), outcome.error, outcome.description)
      : back(reply, outcome.checked, { error: outcome.error, error_description: outcome.description });

  issuerRoute(
    app,
    'GET',
    '/authorize',
    {
      operationId: 'issuerAuthorize',
      summary: 'The authorization endpoint of a domain’s OpenID Provider',
      description:
        'Authorization code flow with PKCE (S256 only, required). An unknown client or a redirect URI not ' +
        'registered exactly is a page for the person, never a redirect; every other refusal goes back to ' +
        'the redirect URI with `error`, `state` and `iss`. A person signed in at this issuer gets a code at ' +
        'once (unless `prompt=login`); otherwise the issuer’s sign-in page (`prompt=none`: `login_required`). ' +
        'A domain with a portal signs people in at its portal: at its portal host, the portal’s session ' +
        'there counts and the person without one is sent to the portal’s sign-in page and back; at any ' +
        'other host, the request is sent on to the domain’s portal host (docs/identity.md).',
      querystring: AuthorizeQuery,
      produces: ['text/html'],
    },
    async (request, reply) => {
      const issuer = await issuerAt(services, request);
      const outcome = await check(services, issuer, request.query);
      if (outcome.kind !== 'ok') return refused(reply, issuer, outcome);
      const fresh = outcome.prompt.includes('login');
      const loginRequired = () =>
        back(reply, outcome.checked, {
          error: 'login_required',
          error_description: 'Nobody is signed in at this issuer.',
        });
      // At a portal host of this domain, the portal signs people in: its session on this host is the
      // authentication, and its sign-in page sends the person back here.
      const portalHost = await portalHostHere(services, request, issuer);
      if (portalHost !== null) {
        const person = fresh ? null : await portalSession(services, request, issuer, portalHost);
        if (person !== null) return grantSignedIn(reply, outcome, person);
        if (outcome.prompt.includes('none')) return loginRequired();
        reply.header('cache-control', 'no-store');
        return reply.redirect(afterPortalSignIn(request, outcome.prompt), 303);
      }
      const person = fresh ? null : await signedIn(request, issuer);
      if (person !== null) return grantSignedIn(reply, outcome, person);
      // Elsewhere (the control plane's host), a domain with a portal hands the same request to its
      // portal host (the first, in order); a domain without one shows the issuer's own page.
      const [host] = (await services.portal.get(issuer.domainId)).hosts;
      if (host !== undefined) {
        reply.header('cache-control', 'no-store');
        return reply.redirect(`${services.issuers.portalOrigin(host)}${request.url}`, 303);
      }
      if (outcome.prompt.includes('none')) return loginRequired();
      const query = new URL(request.url, 'http://x').search.slice(1);
      return formPage(request, reply, outcome, query);
    },
  );

  app.post(
    '/d/:slug/authorize',
    {
      config: { access: publicAccess },
      schema: {
        // The sign-in page's own form, like the portal's pages: posted by that page with its form token,
        // not an operation a client calls, so it is not in the API's document (docs/identity.md).
        hide: true,
        operationId: 'issuerAuthorizeSignIn',
        tags: ['oidc'],
        summary: 'The sign-in form of a domain’s authorization endpoint',
        description:
          'Posted by the issuer’s own sign-in page (its Origin and form token); on success the browser is ' +
          'signed in at this issuer and sent back to the client with a code.',
        params: IssuerParams,
        body: SignInBody,
        consumes: ['application/x-www-form-urlencoded'],
        produces: ['text/html'],
      },
    },
    async (request, reply) => {
      const issuer = await issuerOf(services, request.params.slug);
      const body = request.body;
      checkSignInForm(
        request,
        signInCookie,
        body.csrf,
        (binding) => services.sessions.formToken('oidc-sign-in', `${issuer.slug}\n${binding}`),
        'This form did not come from this issuer’s sign-in page.',
      );
      const query = Object.fromEntries(new URLSearchParams(body.request));
      const outcome = await check(services, issuer, query);
      if (outcome.kind !== 'ok') return refused(reply, issuer, outcome);
      const signedInNow = await signInFromForm(services, request, reply, {
        domainId: issuer.domainId,
        email: body.email,
        password: body.password,
        place: `${issuer.issuer} ${request.ip}`,
      });
      if (signedInNow.kind !== 'signed-in')
        return formPage(request, reply, outcome, body.request, {
          ...signInRefusal(signedInNow),
          email: body.email,
        });
      const principal = signedInNow.principal;
      const { cookie, sessionId, maxAge, startedAt } = await services.sessions.login(
        { actor: `principal:${principal.id}`, requestId: String(request.id) },
        principal,
        issuerBinding(issuer.slug),
      );
      reply.header('set-cookie', [
        `${issuerCookie(issuer.slug)}=${cookie}; Max-Age=${maxAge}; ${cookieAttributes}`,
        `${signInCookie}=; Max-Age=0; ${cookieAttributes}`,
      ]);
      // auth_time is the session's start, as every later code of the same session says (not a moment
      // after it, which may fall in the next second).
      return grant(reply, outcome, principal.id, sessionId, startedAt);
    },
  );
}
