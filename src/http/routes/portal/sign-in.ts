// Signing in and out at a portal host. The domain is the host's: a person never types it. It is also the
// sign-in page of the domain's OpenID Provider (oidc/authorize.ts sends the person here with `next`). The sign-in
// form is bound to a cookie of its own (its token is that cookie's keyed hash), and must come from a
// page of this host (Origin), so no other site can sign a browser in. A wrong email and a wrong password
// get the same page after the same work; failures are limited per account and per host and address.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { signInRefusal } from '../../../identity/sign-in.js';
import { authorizationReturnOrigin } from '../oidc/authorize.js';
import { portalCookie } from '../../../identity/sessions.js';
import { fromThisSite } from '../../same-site.js';
import { checkSignInForm, signInBinding, signInFromForm } from '../../sign-in-form.js';
import type { App } from '../../types.js';
import {
  checkForm,
  formToken,
  personActor,
  personOf,
  renderPage,
  safeNext,
  signInCookie,
  siteOf,
  type PortalDeps,
} from './context.js';

const cookieAttributes = 'Path=/; Secure; HttpOnly; SameSite=Strict';

/**
 * Renders the sign-in page (with a fresh sign-in cookie when there is none). When `next` is an
 * authorization request of this domain's issuer, its form may lead on to that client (CSP form-action
 * covers the redirects that follow a form), and to no other.
 */
export async function signInPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { status?: number; message?: string; email?: string; next?: string } = {},
) {
  const site = siteOf(request);
  const binding = signInBinding(request, reply, { name: signInCookie, attributes: cookieAttributes });
  const next = safeNext(options.next, site.host);
  const returnOrigin = await authorizationReturnOrigin(deps.services, site.domainId, next);
  if (returnOrigin !== null) {
    const csp = String(reply.getHeader('content-security-policy'));
    reply.header(
      'content-security-policy',
      csp.replace("form-action 'self'", `form-action 'self' ${returnOrigin}`),
    );
  }
  return renderPage(deps, request, reply, 'signIn', {
    title: 'Sign in',
    person: null,
    csrf: deps.services.sessions.formToken('sign-in', `${site.host}\n${binding}`),
    status: options.status ?? 200,
    data: {
      message: options.message ?? null,
      email: options.email ?? '',
      next,
    },
  });
}

const SignInBody = Type.Object(
  {
    csrf: Type.String({ maxLength: 200 }),
    next: Type.Optional(Type.String({ maxLength: 8000 })),
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

/** The answer once this browser's session is over: its cookie cleared, and the sign-in page next. */
export function signedOut(reply: FastifyReply) {
  reply.header('set-cookie', `${portalCookie}=; Max-Age=0; ${cookieAttributes}`);
  return reply.redirect('/sign-in', 303);
}

const CsrfBody = Type.Object({ csrf: Type.String({ maxLength: 200 }) }, { additionalProperties: false });

export function signInRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;
  app.get(
    '/sign-in',
    {
      schema: {
        hide: true,
        querystring: Type.Object(
          {
            next: Type.Optional(Type.String({ maxLength: 8000 })),
            // The form even to a person signed in: an authorization request asked to sign in again.
            fresh: Type.Optional(Type.Literal('1')),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      if (request.query.fresh === undefined && (await personOf(deps, request)) !== null)
        return reply.redirect(safeNext(request.query.next, siteOf(request).host), 303);
      return signInPage(deps, request, reply, {
        ...(request.query.next === undefined ? {} : { next: request.query.next }),
      });
    },
  );

  app.post('/sign-in', { schema: { hide: true, body: SignInBody } }, async (request, reply) => {
    const site = siteOf(request);
    const body = request.body;
    checkSignInForm(
      request,
      signInCookie,
      body.csrf,
      (binding) => services.sessions.formToken('sign-in', `${site.host}\n${binding}`),
      'This form did not come from a page of this portal.',
    );
    const outcome = await signInFromForm(services, request, reply, {
      domainId: site.domainId,
      email: body.email,
      password: body.password,
      place: `${site.host} ${request.ip}`,
    });
    if (outcome.kind !== 'signed-in')
      return signInPage(deps, request, reply, {
        ...signInRefusal(outcome),
        email: body.email,
        ...(body.next === undefined ? {} : { next: body.next }),
      });
    const principal = outcome.principal;
    const { cookie, maxAge } = await services.sessions.login(
      { actor: `principal:${principal.id}`, requestId: String(request.id) },
      principal,
      site.host,
    );
    reply.header('set-cookie', [
      `${portalCookie}=${cookie}; Max-Age=${maxAge}; ${cookieAttributes}`,
      `${signInCookie}=; Max-Age=0; ${cookieAttributes}`,
    ]);
    return reply.redirect(safeNext(body.next, site.host), 303);
  });

  app.post('/sign-out', { schema: { hide: true, body: CsrfBody } }, async (request, reply) => {
    const person = await personOf(deps, request);
    if (person === null) return signInPage(deps, request, reply, { status: 401 });
    checkForm(deps, request, person, request.body.csrf, fromThisSite);
    await services.sessions.logout(personActor(person, request), person.domainId, person.sessionId);
    return signedOut(reply);
  });
}

export { formToken, cookieAttributes };
