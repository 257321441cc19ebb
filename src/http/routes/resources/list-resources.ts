import { Type } from '@sinclair/typebox';
import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { kindsAllowed, listed } from '../../../policy/scopes.js';
import { TenantDomainParams } from '../../schemas.js';
import { Resource } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const listResources: RouteModule = (app, { provisioner, domains }) => {
  app.get(
    '/v1/domains/:domainId/resources',
    {
      config: { access: operatorOrOwnDomain(listed('read')) },
      schema: {
        operationId: 'listResources',
        summary: "List a domain's resources",
        description: 'A key sees the resources of the kinds it may `read`, and no others.',
        params: TenantDomainParams,
        querystring: Type.Object(
          { includeDeleted: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Resource) }) },
      },
    },
    async (request) => {
      await domains.get(scopeOf(request)); // an unknown domain is a 404, not an empty list
      const kinds = kindsAllowed(request.principal, 'read');
      return {
        items: await provisioner.list(scopeOf(request), {
          ...request.query,
          ...(kinds === null ? {} : { kinds }),
        }),
      };
    },
  );
};
