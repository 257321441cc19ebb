// A domain's users and service accounts, and their sessions.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { principalRoutes } from './principals.js';
import { revokeSession } from './sessions.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [principalRoutes, revokeSession];

export const principalsPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
