// Objects in storage resources, streamed in and out.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { objects } from './objects.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [objects];

export const objectsPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
