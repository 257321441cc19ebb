// The portal's assets, served by Bulkhead: the stylesheet, the script, and the host's own domain's logo
// (never another's: the logo is looked up by the host, and its URL names no domain).
import { script, stylesheet } from '../../../portal/assets.js';
import { notFound } from '../../../errors.js';
import type { App } from '../../types.js';
import { siteOf, type PortalDeps } from './context.js';

export function assetRoutes(app: App, deps: PortalDeps): void {
  app.get('/portal-assets/portal.css', { schema: { hide: true } }, (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8').send(stylesheet),
  );
  app.get('/portal-assets/portal.js', { schema: { hide: true } }, (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8').send(script),
  );
  app.get(
    '/portal-assets/logo',
    {
      schema: {
        hide: true,
        querystring: {
          type: 'object',
          properties: { v: { type: 'string', maxLength: 64 } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const logo = await deps.services.portal.logo(siteOf(request).domainId);
      if (logo === null) throw notFound();
      return reply.header('cache-control', 'private, max-age=3600').type(logo.type).send(logo.bytes);
    },
  );
}
