import { operatorOnly } from '../../../policy/policy.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const suspendDomain: RouteModule = (app, { domains }) => {
  app.post(
    '/v1/domains/:domainId/suspend',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'suspendDomain',
        tags: ['domains'],
        summary: 'Suspend a domain',
        description:
          'Its keys are refused until it is resumed. Suspending a suspended domain changes nothing.',
        security: bearer,
        params: DomainParams,
        response: { 200: Domain, ...errorResponses },
      },
    },
    async (request) => domains.suspend(actorOf(request), scopeOf(request)),
  );
};
