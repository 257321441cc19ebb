// The pages of a signed-in person: the dashboard, the domain's members (resources: resources.ts), and the
// person's own sessions. Every read goes through the services in the host's domain (the session's,
// which is the same: the session is bound to this host); an id of another domain is the 404 page.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../../errors.js';
import { domainAdmin, type Access } from '../../../policy/policy.js';
import { fromThisSite } from '../../same-site.js';
import type { App } from '../../types.js';
import {
  checkForm,
  formToken,
  personActor,
  personOf,
  personWith,
  renderPage,
  requireAccess,
  siteOf,
  type Person,
  type PortalDeps,
} from './context.js';
import { membersPage } from './members.js';
import { signedOut, signInPage } from './sign-in.js';

const sessionId = /^ses_[0-9a-hjkmnp-tv-z]{26}$/;

/** The signed-in person, or the sign-in page (401) already sent. */
export async function signedIn(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<Person | null> {
  const person = await personOf(deps, request);
  if (person === null) {
    await signInPage(deps, request, reply, { status: 401, next: request.url });
    return null;
  }
  return person;
}

/** The signed-in person the policy lets through `access`, or null with the sign-in page sent. */
export async function signedInFor(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  access: Access,
): Promise<Person | null> {
  const person = await signedIn(deps, request, reply);
  if (person !== null) requireAccess(person, access);
  return person;
}

/** The signed-in admin whose form this is, or null with the sign-in page sent. */
export async function adminForm(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
): Promise<Person | null> {
  const person = await signedIn(deps, request, reply);
  if (person === null) return null;
  checkForm(deps, request, person, token, fromThisSite);
  requireAccess(person, domainAdmin);
  return person;
}

const CsrfBody = Type.Object({ csrf: Type.String({ maxLength: 200 }) }, { additionalProperties: false });
const SessionParams = Type.Object(
  { sessionId: Type.String({ maxLength: 100 }) },
  { additionalProperties: false },
);
export function pageRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;

  app.get(
    '/',
    { schema: { hide: true }, config: { portalSessionWithPage: true } },
    async (request, reply) => {
      // One read in the domain: the session, the counts and the person's own name.
      const site = siteOf(request);
      const { person, rows } = await personWith(deps, request, async (hash, at) => {
        const { session, figures } = await services.portal.dashboardAndSession(site.domainId, hash, at);
        return { session, rows: figures };
      });
      if (person === null) {
        await signInPage(deps, request, reply, { status: 401, next: request.url });
        return reply;
      }
      const { name, ...counts } = rows ?? (await services.portal.dashboard(person.domainId, person.subject));
      return renderPage(deps, request, reply, 'dashboard', {
        title: 'Dashboard',
        person,
        email: name,
        csrf: formToken(deps, person),
        data: { counts },
      });
    },
  );

  app.get('/members', { schema: { hide: true } }, async (request, reply) => {
    const person = await signedIn(deps, request, reply);
    if (person === null) return reply;
    return membersPage(deps, request, reply, person);
  });

  app.get('/sessions', { schema: { hide: true } }, async (request, reply) => {
    const person = await signedIn(deps, request, reply);
    if (person === null) return reply;
    const items = (await services.sessions.list(person.domainId, person.subject)).map((s) => ({
      ...s,
      current: s.id === person.sessionId,
    }));
    return renderPage(deps, request, reply, 'sessions', {
      title: 'My sessions',
      person,
      csrf: formToken(deps, person),
      data: { items, message: null },
    });
  });

  app.post(
    '/sessions/:sessionId/end',
    { schema: { hide: true, params: SessionParams, body: CsrfBody } },
    async (request, reply) => {
      const person = await signedIn(deps, request, reply);
      if (person === null) return reply;
      checkForm(deps, request, person, request.body.csrf, fromThisSite);
      const id = request.params.sessionId;
      // Only a session of the person's own: anyone else's, in this domain or another, is unknown here.
      const mine =
        sessionId.test(id) &&
        (await services.sessions.list(person.domainId, person.subject)).some((s) => s.id === id);
      if (!mine) throw notFound();
      await services.tokens.revokeSession(
        personActor(person, request),
        id,
        'ended from the portal',
        person.domainId,
      );
      if (id === person.sessionId) return signedOut(reply);
      return reply.redirect('/sessions', 303);
    },
  );

  app.post(
    '/sessions/sign-out-everywhere',
    { schema: { hide: true, body: CsrfBody } },
    async (request, reply) => {
      const person = await signedIn(deps, request, reply);
      if (person === null) return reply;
      checkForm(deps, request, person, request.body.csrf, fromThisSite);
      await services.sessions.logoutEverywhere(personActor(person, request), person.domainId, person.subject);
      return signedOut(reply);
    },
  );
}
