// Grants: the one audited way for a domain to act in another.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { grantRoutes } from './grants.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [grantRoutes];

export const grantsPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
