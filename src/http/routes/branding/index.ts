// A domain's portal hosts and branding, set by the operator (docs/portal.md). The portal's pages are
// routes/portal/; this is only the API that configures them.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { getPortal } from './get-portal.js';
import { putLogo } from './put-logo.js';
import { putPortal } from './put-portal.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [getPortal, putPortal, putLogo];

export const brandingPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
