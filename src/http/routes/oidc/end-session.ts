// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at a domain's issuer. The ID token the
// client holds (`id_token_hint`, verified with this domain's keys) names the session to end: its token
// session ends at once (its access and refresh tokens are refused from the next request on), and so does
// the browser session that authorized it, the issuer's own or the portal's, found through the token
// session rather than a cookie: the portal's cookie is bound to its host and never reaches the control
// plane's. A browser session is ended only when it is the hint's person's in this domain. Whatever session
// of the same person the browser carries here (the issuer's cookie, or the portal's at the domain's
// portal host) ends too, and its cookie is cleared. The browser goes back only to a post-logout URI the
// client registered (`postLogoutRedirectUris`), exactly, with its `state`; a hint that does not verify, or
// a URI not registered, is a page for the person and ends nothing.
import { Type } from '@sinclair/typebox';
import { isId } from '../../../domain/ids.js';
import type { Services } from '../../../runtime.js';
import type { App } from '../../types.js';
import { portalCookie } from '../../../identity/sessions.js';
import { cookieAttributes as portalCookieAttributes } from '../portal/sign-in.js';
import {
  brandingOf,
  cookieAttributes,
  issuerCookie,
  issuerSession,
  portalHostHere,
  portalSession,
} from './authorize.js';
import { codesOf, issuerAt, issuerRoute } from './issuer.js';
import { refusalPage, signedOutPage } from './pages.js';

const text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const EndSessionQuery = Type.Object(
  {
    id_token_hint: text(8192),
    post_logout_redirect_uri: text(2000),
    state: text(2000),
    client_id: text(100),
  },
  { additionalProperties: true },
);

export function endSessionRoutes(app: App, services: Services): void {
  issuerRoute(
    app,
    'GET',
    '/end-session',
    {
      operationId: 'issuerEndSession',
      summary: 'The end-session endpoint of a domain’s OpenID Provider (RP-initiated logout)',
      description:
        'Ends the session the `id_token_hint` names at once, and the browser session that authorized it ' +
        '(at this issuer or at the domain’s portal, wherever it was opened, with no cookie needed) when ' +
        'it is still the same person’s; a session of the same person the browser carries here ends too. ' +
        'Then returns to `post_logout_redirect_uri` when it is one of the client’s ' +
        'registered `postLogoutRedirectUris` exactly, with `state`; any other is a 400 page and ends ' +
        'nothing. Without a hint that verifies, nothing ends.',
      querystring: EndSessionQuery,
      produces: ['text/html'],
    },
    async (request, reply) => {
      const issuer = await issuerAt(services, request);
      const q = request.query;
      const branding = await brandingOf(services, issuer);
      const hint =
        q.id_token_hint === undefined
          ? null
          : await codesOf(services).idTokenHint(issuer.domainId, issuer.issuer, q.id_token_hint);
      if (hint === null)
        return refusalPage(
          reply,
          branding,
          'invalid_request',
          'A valid id_token_hint of this issuer is required.',
        );
      const clientId = hint.aud as string;
      if (q.client_id !== undefined && q.client_id !== clientId)
        return refusalPage(reply, branding, 'invalid_request', 'client_id is not the ID token’s audience.');
      const client = await services.oauthClients.find(issuer.domainId, clientId);
      const target = q.post_logout_redirect_uri;
      // Only a post-logout URI the client registered, character for character (its redirect URIs are
      // not enough: a client says where a signed-out browser may land).
      if (target !== undefined && (client === null || !client.post_logout_redirect_uris.includes(target)))
        return refusalPage(
          reply,
          branding,
          'invalid_request',
          'post_logout_redirect_uri is not one of the addresses this application registered for sign-out.',
        );
      const subject = String(hint.sub);
      const actor = { actor: `principal:${subject}`, requestId: String(request.id) };
      // What the browser carries here is read before anything ends, so a cookie whose session ends
      // below through the token session is still known, and cleared.
      const atIssuer = await issuerSession(services, request, issuer);
      const portalHost = await portalHostHere(services, request, issuer);
      const atPortal =
        portalHost === null ? null : await portalSession(services, request, issuer, portalHost);
      const sid = hint['sid'];
      if (typeof sid === 'string' && isId('session', sid)) {
        await services.tokens.revokeSession(actor, sid, 'logout', issuer.domainId);
        await services.sessions.logoutAuthorizing(actor, issuer.domainId, subject, sid);
      }
      const cleared: string[] = [];
      if (atIssuer !== null && atIssuer.subject === subject) {
        await services.sessions.logout(actor, issuer.domainId, atIssuer.sessionId);
        cleared.push(`${issuerCookie(issuer.slug)}=; Max-Age=0; ${cookieAttributes}`);
      }
      if (atPortal !== null && atPortal.subject === subject) {
        await services.sessions.logout(actor, issuer.domainId, atPortal.sessionId);
        cleared.push(`${portalCookie}=; Max-Age=0; ${portalCookieAttributes}`);
      }
      if (cleared.length > 0) reply.header('set-cookie', cleared);
      if (target === undefined) return signedOutPage(reply, branding);
      const url = new URL(target);
      if (q.state !== undefined) url.searchParams.append('state', q.state);
      reply.header('cache-control', 'no-store');
      return reply.redirect(url.href, 303);
    },
  );
}
