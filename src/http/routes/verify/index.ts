// Isolation runs: a provider's probe, and the runs recorded.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { listVerifyRuns } from './list-runs.js';
import { providerProbe } from './provider-probe.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [providerProbe, listVerifyRuns];

export const verifyPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
