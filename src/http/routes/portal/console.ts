// The operator console, at the control plane's own host (the host of BULKHEAD_PUBLIC_URL), under
// /console. Whoever holds the operator token signs in with it; the console's cookie (`__Host-`, Strict)
// carries an expiry and a keyed hash of it, of the host and of the operator token in force, so it is
// worth nothing at another host, after its hour count, or once the token is replaced. Every form carries
// a token bound to that cookie and must come from this very host (Origin). Failed sign-ins are limited
// per host and address. What the console does is what the operator's API routes do, through the same
// services: domains, their portal settings, keys and grants (listed, created, revoked), the audit chain's check (as
// `bulkhead audit verify`) and the recorded `bulkhead verify` runs, drawn as a chart.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { appendAudit, verifyAudit } from '../../../audit/log.js';
import { BulkheadError, notFound } from '../../../errors.js';
import type { AccountKey } from '../../../identity/names.js';
import { readSessionCookie } from '../../../identity/sessions.js';
import { runChart } from '../../../portal/charts.js';
import { consoleNav, consoleSite, type PageName } from '../../../portal/render.js';
import { grantableActions, maxGrantSeconds } from '../../../policy/grants.js';
import { listRuns } from '../../../verify/runs.js';
import { fromThisSite } from '../../same-site.js';
import type { App } from '../../types.js';
import { sendPage, signInCookie, type PageOptions, type PortalDeps } from './context.js';
import { checkSignInForm, sameToken, signInBinding } from '../../sign-in-form.js';

export const consoleCookie = '__Host-bulkhead_console';
const cookieAttributes = 'Path=/; Secure; HttpOnly; SameSite=Strict';
const maxAgeSeconds = 8 * 3600;
const operatorAccount = 'console\noperator' as AccountKey;
const actor = (request: FastifyRequest) => ({ actor: 'operator', requestId: String(request.id) });

/** Renders a console page (the console's own look and menu, never a domain's). */
export function consolePage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: PageName,
  options: PageOptions & { readonly signedIn: boolean },
) {
  return sendPage(deps, request, reply, name, options, {
    site: consoleSite(deps.consoleHost ?? ''),
    user: options.signedIn ? { email: 'operator', role: 'operator' } : null,
    nav: consoleNav,
    signOut: '/console/sign-out',
  });
}

function mac(deps: PortalDeps, expires: number): string {
  return deps.services.sessions.formToken(
    'console',
    `${deps.consoleHost}\n${expires}\n${deps.services.operator.tokenBinding()}`,
  );
}

/** The console cookie's value when it is good here and now, or null. */
function session(deps: PortalDeps, request: FastifyRequest): string | null {
  const cookie = readSessionCookie(request.headers.cookie, consoleCookie);
  if (cookie === null || cookie === 'ambiguous') return null;
  const found = /^([0-9]{1,15})\.([A-Za-z0-9_-]{20,100})$/.exec(cookie.value);
  if (found === null) return null;
  const expires = Number(found[1]);
  if (expires * 1000 <= Date.now()) return null;
  return sameToken(found[2], mac(deps, expires)) ? cookie.value : null;
}

/** The form token of a console session. */
function formToken(deps: PortalDeps, value: string): string {
  return deps.services.sessions.formToken('console-form', value);
}

function signInPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { status?: number; message?: string } = {},
) {
  const binding = signInBinding(request, reply, { name: signInCookie, attributes: cookieAttributes });
  return consolePage(deps, request, reply, 'consoleSignIn', {
    title: 'Sign in',
    signedIn: false,
    csrf: deps.services.sessions.formToken('console-sign-in', `${deps.consoleHost}\n${binding}`),
    status: options.status ?? 200,
    data: { message: options.message ?? null },
  });
}

const CsrfBody = Type.Object({ csrf: Type.String({ maxLength: 200 }) }, { additionalProperties: false });
const DomainParams = Type.Object(
  { domainId: Type.String({ maxLength: 100 }) },
  { additionalProperties: false },
);
const domainId = /^dom_[0-9a-hjkmnp-tv-z]{26}$/;
const keyId = /^key_[0-9a-hjkmnp-tv-z]{26}$/;
const grantId = /^grt_[0-9a-hjkmnp-tv-z]{26}$/;

export function consoleRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;

  /** The console session, or null with the sign-in page sent; the console's host only. */
  function operator(request: FastifyRequest, reply: FastifyReply): string | null {
    if (!request.portalConsole) throw notFound();
    const value = session(deps, request);
    if (value === null) {
      void signInPage(deps, request, reply, { status: 401 });
      return null;
    }
    return value;
  }

  /** A console form: signed in, from this host, with its token. */
  function change(request: FastifyRequest, reply: FastifyReply, token: string): string | null {
    const value = operator(request, reply);
    if (value === null) return null;
    if (!fromThisSite(request) || !sameToken(token, formToken(deps, value)))
      throw new BulkheadError('csrf_rejected', 'This form did not come from a page of this console.');
    return value;
  }

  function knownDomain(id: string): string {
    if (!domainId.test(id)) throw notFound();
    return id;
  }

  async function domainPage(
    request: FastifyRequest,
    reply: FastifyReply,
    value: string,
    id: string,
    extras: { status?: number; message?: string; failed?: boolean; secret?: string } = {},
  ) {
    const domain = await services.domains.get(id);
    const [portal, keys, grants] = await Promise.all([
      services.portal.get(id),
      domain.status === 'deleted' ? Promise.resolve([]) : services.keys.list(id),
      services.grants.list({ domainId: id, includeInactive: true }),
    ]);
    return consolePage(deps, request, reply, 'consoleDomain', {
      title: domain.name,
      signedIn: true,
      csrf: formToken(deps, value),
      status: extras.status ?? 200,
      data: {
        domain,
        portal,
        keys,
        grants,
        message: extras.message ?? null,
        failed: extras.failed ?? false,
        secret: extras.secret ?? null,
      },
    });
  }

  app.get('/console/sign-in', { schema: { hide: true } }, (request, reply) => {
    if (!request.portalConsole) throw notFound();
    if (session(deps, request) !== null) return reply.redirect('/console', 303);
    return signInPage(deps, request, reply);
  });

  app.post(
    '/console/sign-in',
    {
      schema: {
        hide: true,
        body: Type.Object(
          { csrf: Type.String({ maxLength: 200 }), token: Type.String({ minLength: 1, maxLength: 8192 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      if (!request.portalConsole) throw notFound();
      checkSignInForm(
        request,
        signInCookie,
        request.body.csrf,
        (binding) => services.sessions.formToken('console-sign-in', `${deps.consoleHost}\n${binding}`),
        'This form did not come from a page of this console.',
      );
      const where = `${deps.consoleHost} ${request.ip}`;
      const wait = services.loginLimiter.retryAfter(operatorAccount, where);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return signInPage(deps, request, reply, {
          status: 429,
          message: `Too many failed attempts. Try again in ${Math.ceil(wait / 60)} minutes.`,
        });
      }
      let ok = false;
      try {
        ok = services.operator.authenticate(request.body.token).kind === 'operator';
      } catch {
        ok = false;
      }
      await services.store.system('authenticate', (tx) =>
        appendAudit(tx, {
          actor: ok ? 'operator' : 'anonymous',
          requestId: String(request.id),
          domainId: null,
          action: 'operator.authenticate',
          target: null,
          outcome: ok ? 'success' : 'denied',
          detail: { via: 'console', host: deps.consoleHost },
        }),
      );
      if (!ok) {
        services.loginLimiter.fail(operatorAccount, where);
        return signInPage(deps, request, reply, { status: 401, message: 'That is not the operator token.' });
      }
      const expires = Math.floor(Date.now() / 1000) + maxAgeSeconds;
      reply.header('set-cookie', [
        `${consoleCookie}=${expires}.${mac(deps, expires)}; Max-Age=${maxAgeSeconds}; ${cookieAttributes}`,
        `${signInCookie}=; Max-Age=0; ${cookieAttributes}`,
      ]);
      return reply.redirect('/console', 303);
    },
  );

  app.post('/console/sign-out', { schema: { hide: true, body: CsrfBody } }, (request, reply) => {
    if (change(request, reply, request.body.csrf) === null) return reply;
    reply.header('set-cookie', `${consoleCookie}=; Max-Age=0; ${cookieAttributes}`);
    return reply.redirect('/console/sign-in', 303);
  });

  app.get('/console', { schema: { hide: true } }, async (request, reply) => {
    const value = operator(request, reply);
    if (value === null) return reply;
    const [domains, grants, audit, newest] = await Promise.all([
      services.domains.list(),
      services.grants.list(),
      services.store.system('audit', verifyAudit),
      services.store.system('verify', (tx) => listRuns(tx, { limit: 60 })),
    ]);
    const runs = [...newest].reverse();
    return consolePage(deps, request, reply, 'consoleHome', {
      title: 'Overview',
      signedIn: true,
      csrf: formToken(deps, value),
      data: {
        domains: domains.length,
        grants: grants.length,
        audit,
        runs,
        chart: runChart(
          'Leaks and coverage of the recorded isolation runs, oldest first',
          runs.map((r) => ({
            at: r.finishedAt,
            bars: r.leaks,
            line: r.operations === 0 ? null : r.exercised / r.operations,
          })),
        ),
      },
    });
  });

  app.get('/console/domains', { schema: { hide: true } }, async (request, reply) => {
    const value = operator(request, reply);
    if (value === null) return reply;
    return consolePage(deps, request, reply, 'consoleDomains', {
      title: 'Domains',
      signedIn: true,
      csrf: formToken(deps, value),
      data: { items: await services.domains.list(), message: null },
    });
  });

  app.post(
    '/console/domains',
    {
      schema: {
        hide: true,
        body: Type.Object(
          {
            csrf: Type.String({ maxLength: 200 }),
            slug: Type.String({ maxLength: 63 }),
            name: Type.String({ maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      try {
        const created = await services.domains.create(actor(request), {
          slug: request.body.slug,
          name: request.body.name,
        });
        return reply.redirect(`/console/domains/${created.id}`, 303);
      } catch (error) {
        if (!(error instanceof BulkheadError) || error.status >= 500 || error.status === 404) throw error;
        return consolePage(deps, request, reply, 'consoleDomains', {
          title: 'Domains',
          signedIn: true,
          csrf: formToken(deps, value),
          status: error.status,
          data: { items: await services.domains.list(), message: error.message },
        });
      }
    },
  );

  app.get(
    '/console/domains/:domainId',
    { schema: { hide: true, params: DomainParams } },
    async (request, reply) => {
      const value = operator(request, reply);
      if (value === null) return reply;
      return domainPage(request, reply, value, knownDomain(request.params.domainId));
    },
  );

  for (const step of ['suspend', 'resume'] as const) {
    app.post(
      `/console/domains/:domainId/${step}`,
      { schema: { hide: true, params: DomainParams, body: CsrfBody } },
      async (request, reply) => {
        const value = change(request, reply, request.body.csrf);
        if (value === null) return reply;
        const id = knownDomain(request.params.domainId);
        if (step === 'suspend') await services.domains.suspend(actor(request), id);
        else await services.domains.resume(actor(request), id);
        return domainPage(request, reply, value, id, {
          message: step === 'suspend' ? 'Suspended.' : 'Resumed.',
        });
      },
    );
  }

  app.post(
    '/console/domains/:domainId/delete',
    {
      schema: {
        hide: true,
        params: DomainParams,
        body: Type.Object(
          { csrf: Type.String({ maxLength: 200 }), confirm: Type.String({ maxLength: 63 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      const id = knownDomain(request.params.domainId);
      const domain = await services.domains.get(id);
      if (request.body.confirm !== domain.slug)
        return domainPage(request, reply, value, id, {
          status: 400,
          message: 'Type the slug of the domain to delete it.',
          failed: true,
        });
      await services.domains.delete(actor(request), id);
      return domainPage(request, reply, value, id, { message: 'Deleted.' });
    },
  );

  app.post(
    '/console/domains/:domainId/portal',
    {
      schema: {
        hide: true,
        params: DomainParams,
        body: Type.Object(
          {
            csrf: Type.String({ maxLength: 200 }),
            hosts: Type.String({ maxLength: 3000 }),
            displayName: Type.String({ maxLength: 200 }),
            primaryColor: Type.String({ maxLength: 20 }),
            accentColor: Type.String({ maxLength: 20 }),
            supportEmail: Type.String({ maxLength: 320 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      const id = knownDomain(request.params.domainId);
      const body = request.body;
      try {
        await services.portal.set(actor(request), id, {
          hosts: body.hosts.split(/[\s,]+/).filter((h) => h !== ''),
          branding: {
            displayName: body.displayName,
            primaryColor: body.primaryColor,
            accentColor: body.accentColor,
            supportEmail: body.supportEmail === '' ? null : body.supportEmail,
          },
        });
        return await domainPage(request, reply, value, id, { message: 'Saved the portal settings.' });
      } catch (error) {
        if (!(error instanceof BulkheadError) || error.status >= 500 || error.status === 404) throw error;
        return domainPage(request, reply, value, id, {
          status: error.status,
          message: error.message,
          failed: true,
        });
      }
    },
  );

  app.post(
    '/console/domains/:domainId/keys',
    {
      schema: {
        hide: true,
        params: DomainParams,
        body: Type.Object(
          { csrf: Type.String({ maxLength: 200 }), name: Type.String({ maxLength: 100 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      const id = knownDomain(request.params.domainId);
      const issued = await services.keys.issue(
        actor(request),
        id,
        request.body.name === '' ? {} : { name: request.body.name },
      );
      return domainPage(request, reply, value, id, { message: 'Issued a key.', secret: issued.key });
    },
  );

  app.post(
    '/console/domains/:domainId/keys/:keyId/revoke',
    {
      schema: {
        hide: true,
        params: Type.Object(
          { domainId: Type.String({ maxLength: 100 }), keyId: Type.String({ maxLength: 100 }) },
          { additionalProperties: false },
        ),
        body: CsrfBody,
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      const id = knownDomain(request.params.domainId);
      if (!keyId.test(request.params.keyId)) throw notFound();
      await services.keys.revoke(actor(request), id, request.params.keyId);
      return domainPage(request, reply, value, id, { message: 'Revoked the key.' });
    },
  );

  /** The grants page: every grant, and the form that creates one. */
  async function grantsPage(
    request: FastifyRequest,
    reply: FastifyReply,
    value: string,
    extras: { status?: number; message?: string; failed?: boolean } = {},
  ) {
    const [items, domains] = await Promise.all([
      services.grants.list({ includeInactive: true }),
      services.domains.list(),
    ]);
    return consolePage(deps, request, reply, 'consoleGrants', {
      title: 'Grants',
      signedIn: true,
      csrf: formToken(deps, value),
      status: extras.status ?? 200,
      data: {
        items,
        domains: domains.filter((d) => d.status !== 'deleted'),
        actions: grantableActions,
        maxDays: maxGrantSeconds / 86_400,
        message: extras.message ?? null,
        failed: extras.failed ?? false,
      },
    });
  }

  app.get('/console/grants', { schema: { hide: true } }, async (request, reply) => {
    const value = operator(request, reply);
    if (value === null) return reply;
    return grantsPage(request, reply, value);
  });

  app.post(
    '/console/grants',
    {
      schema: {
        hide: true,
        body: Type.Object(
          {
            csrf: Type.String({ maxLength: 200 }),
            from: Type.String({ maxLength: 100 }),
            to: Type.String({ maxLength: 100 }),
            actions: Type.Optional(
              Type.Union([
                Type.String({ maxLength: 40 }),
                Type.Array(Type.String({ maxLength: 40 }), { maxItems: 20 }),
              ]),
            ),
            resources: Type.String({ maxLength: 4200 }),
            days: Type.String({ maxLength: 4 }),
            reason: Type.String({ maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      const body = request.body;
      const actions = body.actions === undefined ? [] : [body.actions].flat();
      const resources = body.resources.split(/[\s,]+/).filter((r) => r !== '');
      const days = /^[0-9]{1,3}$/.test(body.days) ? Number(body.days) : Number.NaN;
      const refusal =
        actions.length === 0
          ? 'Choose at least one action.'
          : !(days >= 1 && days <= maxGrantSeconds / 86_400)
            ? `A grant lasts 1 to ${maxGrantSeconds / 86_400} days.`
            : resources.length === 0 || resources.length > 100 || resources.some((r) => r.length > 40)
              ? 'Name 1 to 100 resources: their ids, or * for all of them.'
              : body.reason.trim() === ''
                ? 'Give the reason for the grant.'
                : null;
      if (refusal !== null)
        return grantsPage(request, reply, value, { status: 400, message: refusal, failed: true });
      // Two domain ids that are not ids are unknown, as the service answers an id it does not find.
      if (!domainId.test(body.from) || !domainId.test(body.to)) throw notFound();
      try {
        // The API's service and checks: two different live domains, grantable actions, resource selectors.
        await services.grants.create(actor(request), {
          from: body.from,
          to: body.to,
          actions,
          resources,
          expiresAt: new Date(Date.now() + days * 86_400_000),
          reason: body.reason.trim(),
        });
      } catch (error) {
        if (!(error instanceof BulkheadError) || error.status >= 500 || error.status === 404) throw error;
        return grantsPage(request, reply, value, {
          status: error.status,
          message: error.message,
          failed: true,
        });
      }
      return grantsPage(request, reply, value, { message: 'Created the grant.' });
    },
  );

  app.post(
    '/console/grants/:grantId/revoke',
    {
      schema: {
        hide: true,
        params: Type.Object({ grantId: Type.String({ maxLength: 100 }) }, { additionalProperties: false }),
        body: CsrfBody,
      },
    },
    async (request, reply) => {
      const value = change(request, reply, request.body.csrf);
      if (value === null) return reply;
      if (!grantId.test(request.params.grantId)) throw notFound();
      await services.grants.revoke(actor(request), request.params.grantId);
      return grantsPage(request, reply, value, { message: 'Revoked the grant.' });
    },
  );
}
