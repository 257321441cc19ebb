// Each domain as an OpenID Provider at its issuer `<BULKHEAD_PUBLIC_URL>/d/<slug>`, and at the root of each
// of its portal hosts, the issuer `https://<host>` (oidc/issuer.ts `issuerRoute`): discovery, its key set,
// the authorization, token, userinfo, end-session, revocation and introspection endpoints, and the OAuth
// clients' API (docs/identity.md, "OpenID Provider"). One encapsulated plugin: it inherits the root's
// authentication, policy and error handling (src/http/server.ts). Its OAuth endpoints live in a scope of
// their own that reads forms and answers errors as RFC 6749 §5.2 says; discovery and keys stay
// problem+json like the rest of the API; the browser's endpoints read forms of their own.
import formbody from '@fastify/formbody';
import { oauthErrorHandler } from '../../oauth.js';
import type { App, FeaturePlugin, RouteModule } from '../../types.js';
import { clientRoutes } from './clients.js';
import { authorizeRoutes } from './authorize.js';
import { corsPreflightRoutes } from './cors.js';
import { discovery } from './discovery.js';
import { endSessionRoutes } from './end-session.js';
import { codesOf } from './issuer.js';
import { userinfoRoutes } from './userinfo.js';
import { issuerIntrospect } from './introspect.js';
import { issuerRevoke } from './revoke.js';
import { issuerToken } from './token.js';

/** The OAuth endpoints, in the order they are registered. */
const oauthRoutes: readonly RouteModule[] = [issuerToken, issuerRevoke, issuerIntrospect];

export const oidcPlugin: FeaturePlugin = (app, { services }, done) => {
  discovery(app, services);
  clientRoutes(app, services);
  void app.register((browser: App, _opts, registered) => {
    void browser.register(formbody, { bodyLimit: 16 * 1024 });
    authorizeRoutes(browser, services, codesOf(services));
    endSessionRoutes(browser, services);
    registered();
  });
  userinfoRoutes(app, services);
  corsPreflightRoutes(app, services, 'userinfo');
  void app.register((oauth: App, _opts, registered) => {
    void oauth.register(formbody, { bodyLimit: 8 * 1024 });
    oauth.setErrorHandler(oauthErrorHandler);
    // The token endpoint's preflight answers errors as the endpoint does.
    corsPreflightRoutes(oauth, services, 'token');
    for (const route of oauthRoutes) route(oauth, services);
    registered();
  });
  done();
};
