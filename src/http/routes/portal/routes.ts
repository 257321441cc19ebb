// The portal's routes as a table, for `bulkhead verify`'s cookie attacks across hosts: each route's
// method, path, path parameters and form fields, read from what the portal plugin itself registers (on a
// throwaway Fastify instance that never listens and never runs a handler). A page or form added to the
// plugin is attacked without anyone listing it.
import type { TSchema } from '@sinclair/typebox';
import Fastify from 'fastify';
import type { Services } from '../../../runtime.js';
import { portalPlugin } from './index.js';

export interface PortalRoute {
  readonly method: string;
  /** The path with `{name}` for each parameter, e.g. `/resources/{resourceId}`. */
  readonly path: string;
  /** The form's schema (JSON Schema), or null for a route without a body. */
  readonly form: TSchema | null;
  /** The operator console's (at the control plane's own host), not a domain's portal. */
  readonly console: boolean;
}

/**
 * Every portal route, GET and POST, in the order the plugin registers them.
 *
 * @example
 * const forms = (await portalRouteTable()).filter((r) => r.method === 'POST' && !r.console);
 */
export async function portalRouteTable(): Promise<PortalRoute[]> {
  const app = Fastify({ logger: false });
  const routes: PortalRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({
        method,
        path: route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
        form: (route.schema?.body as TSchema | undefined) ?? null,
        console: route.url === '/console' || route.url.startsWith('/console/'),
      });
    }
  });
  // Registering reads no service: the handlers, which never run here, do.
  const services = { issuers: { publicUrl: undefined } } as unknown as Services;
  await app.register(portalPlugin, { services });
  await app.ready();
  await app.close();
  return routes;
}
