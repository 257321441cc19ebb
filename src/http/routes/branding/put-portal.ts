import { operatorOnly } from '../../../policy/policy.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { PortalSettings, PortalSettingsBody } from './schemas.js';

export const putPortal: RouteModule = (app, { portal }) => {
  app.put(
    '/v1/domains/:domainId/portal',
    {
      config: { access: operatorOnly, current: (request) => portal.get(scopeOf(request)) },
      schema: {
        operationId: 'putPortal',
        tags: ['portal'],
        summary: "Set a domain's portal hosts and branding",
        description:
          'Replaces the hosts (up to 10; each a DNS name of two labels or more, compared after IDNA, ' +
          'lowercase and trailing-dot normalisation; 400 `invalid_host`) and the branding (the logo is kept). ' +
          'A host of another domain is 409 `host_taken`, and nothing changes. Colours are `#rrggbb`; ' +
          '`supportUrl` must be https.',
        security: bearer,
        params: DomainParams,
        body: PortalSettingsBody,
        response: { 200: PortalSettings, ...errorResponses },
      },
    },
    async (request) => {
      const { hosts, ...branding } = request.body;
      return portal.set(actorOf(request), scopeOf(request), { hosts, branding });
    },
  );
};
