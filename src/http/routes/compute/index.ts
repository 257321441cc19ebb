// A domain's instances and the volumes attached to them.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { instanceRoutes } from './instances.js';
import { volumeRoutes } from './volumes.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [instanceRoutes, volumeRoutes];

export const computePlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
