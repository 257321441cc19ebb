import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import { DomainParams } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const getDomain: RouteModule = (app, { domains }) => {
  app.get(
    '/v1/domains/:domainId',
    {
      config: {
        access: operatorOrOwnDomain(unscoped("the key's own domain: its name and status, no resource")),
        etag: true,
      },
      schema: {
        operationId: 'getDomain',
        summary: 'Show a domain',
        description:
          'The operator sees any domain; a provisioning key sees only its own. Anything else is 404.',
        params: DomainParams,
        response: { 200: Domain },
      },
    },
    async (request) => domains.get(scopeOf(request)),
  );
};
