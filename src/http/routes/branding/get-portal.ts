import { operatorOnly } from '../../../policy/policy.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';
import { PortalSettings } from './schemas.js';

export const getPortal: RouteModule = (app, { portal }) => {
  app.get(
    '/v1/domains/:domainId/portal',
    {
      config: { access: operatorOnly, etag: true },
      schema: {
        operationId: 'getPortal',
        tags: ['portal'],
        summary: "A domain's portal hosts and branding",
        security: bearer,
        params: DomainParams,
        response: { 200: PortalSettings, ...errorResponses },
      },
    },
    async (request) => portal.get(scopeOf(request)),
  );
};
