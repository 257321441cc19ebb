import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const getDomain: RouteModule = (app, { domains }) => {
  app.get(
    '/v1/domains/:domainId',
    {
      config: {
        access: operatorOrOwnDomain(unscoped("the key's own domain: its name and status, no resource")),
      },
      schema: {
        operationId: 'getDomain',
        tags: ['domains'],
        summary: 'Show a domain',
        description:
          'The operator sees any domain; a provisioning key sees only its own. Anything else is 404.',
        security: bearer,
        params: DomainParams,
        response: { 200: Domain, ...errorResponses },
      },
    },
    async (request) => domains.get(scopeOf(request)),
  );
};
