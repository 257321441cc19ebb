// What every portal route shares: the site the Host names (resolved once, in onRequest), the signed-in
// person (from the portal cookie, only on the host its session was opened on), the security headers
// with a fresh CSP nonce, form tokens, and safe `next` paths. A host that names no active domain gets the
// bare 404 page before any route runs, so nothing of any domain reaches it.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { appendAudit } from '../../../audit/log.js';
import { requestHost } from '../../../domain/hosts.js';
import { BulkheadError } from '../../../errors.js';
import { portalCookie, readSessionCookie, type SessionPrincipal } from '../../../identity/sessions.js';
import { decide, type Access } from '../../../policy/policy.js';
import type { Actor } from '../../../policy/principal.js';
import type { Services } from '../../../runtime.js';
import type { PortalSessionRow, PortalSite } from '../../../services/portal.js';
import type { PageInput, PageName, PortalRenderer } from '../../../portal/render.js';
import { sameToken } from '../../sign-in-form.js';

/** The sign-in form's own cookie: what its token is bound to before there is a session. */
export const signInCookie = '__Host-bulkhead_portal_signin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The portal site the Host names (set for every portal route that runs). */
    portalSite: PortalSite | null;
    /** This response's CSP nonce. */
    portalNonce: string;
    /** The request is at the control plane's own host (the operator console's, console.ts). */
    portalConsole: boolean;
    /** The portal cookie's session as read with the site (`row` undefined: none found), or null if not read. */
    portalSessionRead: { readonly row: PortalSessionRow | undefined; readonly at: Date } | null;
  }
  interface FastifyContextConfig {
    /**
     * The route reads the portal cookie's session itself, with its page's own statements (`personWith`):
     * when the host's site is kept, the host's lookup reads nothing.
     */
    portalSessionWithPage?: boolean;
  }
}

export interface PortalDeps {
  readonly services: Services;
  readonly renderer: PortalRenderer;
  /** The control plane's own host (BULKHEAD_PUBLIC_URL's), lowercase without port; null without one. */
  readonly consoleHost: string | null;
}

/** A request's host as the console compares it: lowercase, without its port or a trailing dot. */
export function bareHost(host: string): string {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:[0-9]{1,5}$/, '');
  return name.toLowerCase().replace(/\.$/, '');
}

/** Paths the console's host serves: the console and the shared stylesheet and script. */
function consolePath(url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return (
    path === '/console' ||
    path.startsWith('/console/') ||
    path === '/portal-assets/portal.css' ||
    path === '/portal-assets/portal.js'
  );
}

export function siteOf(request: FastifyRequest): PortalSite {
  const site = request.portalSite;
  if (site === null) throw new Error('portal route ran without a site');
  return site;
}

/** The headers every portal answer carries. */
export function securityHeaders(reply: FastifyReply, nonce: string, secure: boolean): void {
  reply.header(
    'content-security-policy',
    `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self' 'nonce-${nonce}'; img-src 'self'; ` +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  reply.header('referrer-policy', 'same-origin');
  reply.header('x-frame-options', 'DENY');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
  if (secure) reply.header('strict-transport-security', 'max-age=31536000');
}

/** Resolves the site from the host; answers the bare 404 page for a host that names none. */
export async function resolveSite(deps: PortalDeps, request: FastifyRequest, reply: FastifyReply) {
  request.portalNonce = randomBytes(16).toString('base64');
  securityHeaders(reply, request.portalNonce, request.protocol === 'https');
  if (deps.consoleHost !== null && bareHost(request.host) === deps.consoleHost) {
    // The control plane's own host: the console, never a domain's portal (no host of a domain can be it).
    request.portalConsole = true;
    if (consolePath(request.url)) return undefined;
    return sendHtml(reply, 404, deps.renderer.bare());
  }
  const host = requestHost(request.host);
  const kept =
    host !== null && request.routeOptions.config.portalSessionWithPage === true
      ? deps.services.portal.cachedSite(host, new Date())
      : undefined;
  if (kept !== undefined) {
    // The site is kept and the route reads the session with its page (personWith): nothing to read here.
    request.portalSite = kept;
  } else if (host !== null) {
    // The host's site and the cookie's session in one message (the site often from the cache).
    const cookie = readSessionCookie(request.headers.cookie, portalCookie);
    const hash =
      cookie === null || cookie === 'ambiguous'
        ? null
        : deps.services.sessions.portalCookieHash(cookie.value);
    const at = new Date();
    const { site, session } = await deps.services.portal.siteAndSession(host, hash, at);
    request.portalSite = site;
    if (hash !== null) request.portalSessionRead = { row: session, at };
  }
  if (request.portalSite === null) return sendHtml(reply, 404, deps.renderer.bare());
  return undefined;
}

export type Person = SessionPrincipal;

/** Who is acting, for the audit log: the signed-in person, in this request. */
export function personActor(person: Person, request: FastifyRequest): Actor {
  return { actor: person.actor, requestId: String(request.id) };
}

/** Whether the policy lets the person through `access` in its own domain. */
export function allows(person: Person, access: Access): boolean {
  return decide(person, access, { domainId: person.domainId }).allow;
}

/** Throws the policy's refusal when the person may not use `access`. */
export function requireAccess(person: Person, access: Access): void {
  const decision = decide(person, access, { domainId: person.domainId });
  if (!decision.allow) throw new BulkheadError(decision.code === 'not_found' ? 'not_found' : decision.code);
}

/**
 * The person signed in at this host, or null. A session of another host (of another domain, or of
 * the same one) is refused and audited in the session's own domain as `portal.cross_host`; the session
 * itself is left as it is.
 */
export async function personOf(deps: PortalDeps, request: FastifyRequest): Promise<Person | null> {
  const site = siteOf(request);
  const cookie = readSessionCookie(request.headers.cookie, portalCookie);
  if (cookie === null || cookie === 'ambiguous') return null;
  // Read with the site when the request began (resolveSite), else now.
  const read = request.portalSessionRead;
  const found =
    read === null
      ? await deps.services.sessions.authenticatePortal(cookie.value, site.host)
      : await deps.services.sessions.authenticatePortalRow(read.row, site.host, read.at);
  if (found === null) return null;
  if ('elsewhere' in found) {
    await deps.services.store.withDomain(found.elsewhere.domainId, (tx) =>
      appendAudit(tx, {
        actor: 'anonymous',
        requestId: String(request.id),
        domainId: found.elsewhere.domainId,
        action: 'portal.cross_host',
        target: found.elsewhere.sessionId,
        outcome: 'denied',
        detail: {
          presentedAt: site.host,
          openedAt: found.elsewhere.host,
          sameDomain: site.domainId === found.elsewhere.domainId,
          route: request.routeOptions.url ?? null,
        },
      }),
    );
    return null;
  }
  // A session whose domain is not the host's cannot be here (the host is part of the binding), but the
  // check costs nothing and stands if the binding were ever wrong.
  return found.domainId === site.domainId ? found : null;
}

/**
 * `personOf`, with what the page reads for that person folded into the same round trip when the host's
 * lookup left the session to the route (`portalSessionWithPage`): `read` gets the cookie's keyed hash
 * and reads the session of the host's domain with the page's rows. `rows` is null when the page must
 * read them itself (the session was read with the site, or there was nothing to fold), and always when
 * there is no person. A cookie whose session is not of the host's domain is looked up as `personOf`
 * does, so a session of another domain is refused and audited just the same.
 */
export async function personWith<T>(
  deps: PortalDeps,
  request: FastifyRequest,
  read: (cookieHash: string, at: Date) => Promise<{ session: PortalSessionRow | undefined; rows: T | null }>,
): Promise<{ person: Person | null; rows: T | null }> {
  const cookie = readSessionCookie(request.headers.cookie, portalCookie);
  const hash =
    request.portalSessionRead !== null || cookie === null || cookie === 'ambiguous'
      ? null
      : deps.services.sessions.portalCookieHash(cookie.value);
  if (hash === null) return { person: await personOf(deps, request), rows: null };
  const at = new Date();
  const { session, rows } = await read(hash, at);
  // Found in the host's domain: personOf checks its host. Not found: personOf looks it up everywhere.
  if (session !== undefined) request.portalSessionRead = { row: session, at };
  const person = await personOf(deps, request);
  return { person, rows: person === null ? null : rows };
}

/** The session's form token: every form of a signed-in page carries it. */
export function formToken(deps: PortalDeps, person: Person): string {
  return deps.services.sessions.formToken('portal', person.sessionId);
}

/** A change must come from a page of this very host (Origin) and carry the session's form token. */
export function checkForm(
  deps: PortalDeps,
  request: FastifyRequest,
  person: Person,
  token: string | undefined,
  fromThisSite: (request: FastifyRequest) => boolean,
): void {
  if (!fromThisSite(request) || !sameToken(token, formToken(deps, person)))
    throw new BulkheadError('csrf_rejected', 'This form did not come from a page of this portal.');
}

/**
 * `next` as a path of this very host, or `/`: only an absolute path (no scheme, no `//`, no backslash, no
 * control character) that stays on this origin once resolved.
 */
export function safeNext(next: string | undefined, host: string): string {
  if (
    next === undefined ||
    !next.startsWith('/') ||
    next.startsWith('//') ||
    next.includes('\\') ||
    [...next].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  )
    return '/';
  try {
    const base = `https://${host}`;
    const url = new URL(next, base);
    if (url.origin !== base) return '/';
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}

/** An HTML answer with its status. */
export function sendHtml(reply: FastifyReply, status: number, html: string) {
  return reply.code(status).type('text/html; charset=utf-8').send(html);
}

/** What a page is rendered with, besides the site and the user it is for. */
export interface PageOptions {
  readonly title: string;
  readonly csrf: string;
  readonly status?: number;
  readonly data?: Record<string, unknown>;
}

/** Renders a page in `frame` (a domain's site and person, or the console's) and sends it. */
export function sendPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: PageName,
  options: PageOptions,
  frame: Pick<PageInput, 'site' | 'user' | 'nav' | 'signOut'>,
) {
  const html = deps.renderer.page(name, {
    ...frame,
    nonce: request.portalNonce,
    title: options.title,
    path: request.routeOptions.url ?? '',
    csrf: options.csrf,
    data: options.data ?? {},
  });
  return sendHtml(reply, options.status ?? 200, html);
}

/** Renders a page of the site for the request. */
export function renderPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  name: PageName,
  options: PageOptions & { readonly person: Person | null; readonly email?: string },
) {
  return sendPage(deps, request, reply, name, options, {
    site: siteOf(request),
    user: options.person === null ? null : { email: options.email ?? '', role: options.person.role },
  });
}

/** What a form's answer tells the person on the page it shows again. */
export interface Outcome {
  readonly status?: number;
  readonly message?: string;
  readonly failed?: boolean;
}

/**
 * Renders a signed-in person's page that carries forms: with the session's form token, and the outcome
 * of the form just sent (`message`, `failed`) beside the page's own `data`.
 */
export function outcomePage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  person: Person,
  name: PageName,
  title: string,
  outcome: Outcome,
  data: Record<string, unknown>,
) {
  return renderPage(deps, request, reply, name, {
    title,
    person,
    csrf: formToken(deps, person),
    status: outcome.status ?? 200,
    data: { ...data, message: outcome.message ?? null, failed: outcome.failed ?? false },
  });
}
