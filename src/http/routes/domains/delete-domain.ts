import { operatorOnly } from '../../../policy/policy.js';
import { bearer, Domain, DomainParams, errorResponses } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf } from '../actor.js';

export const deleteDomain: RouteModule = (app, { domains }) => {
  app.delete(
    '/v1/domains/:domainId',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'deleteDomain',
        tags: ['domains'],
        summary: 'Delete a domain',
        description:
          'Revokes every key of the domain. The record stays, with status `deleted`, for the audit trail.',
        security: bearer,
        params: DomainParams,
        response: { 200: Domain, ...errorResponses },
      },
    },
    async (request) => domains.delete(actorOf(request), request.params.domainId),
  );
};
