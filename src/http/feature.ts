// A feature of the API (a folder under routes/) as one encapsulated Fastify plugin: its routes, registered
// in order, and the OpenAPI tag they are listed under, set here once for all of them. What every operation
// declares whatever its feature (the error responses, the security scheme) is set at the root, in server.ts.
import type { FeaturePlugin, RouteModule } from './types.js';

/** A plugin that tags its routes `tag` in the OpenAPI document and registers them in the order given. */
export function feature(tag: string, routes: readonly RouteModule[]): FeaturePlugin {
  return (app, { services }, done) => {
    app.addHook('onRoute', (route) => {
      if (route.schema !== undefined) route.schema.tags ??= [tag];
    });
    for (const route of routes) route(app, services);
    done();
  };
}
