// Each domain's signing keys and the key set that verifies its tokens.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { jwks } from './jwks.js';
import { signingKeyRoutes } from './signing-keys.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [jwks, signingKeyRoutes];

export const identityPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
