// Health, readiness and the metrics scrape.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { health } from './health.js';
import { metrics } from './metrics.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [health, metrics];

export const systemPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
