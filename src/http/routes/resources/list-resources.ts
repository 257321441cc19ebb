import { Type } from '@sinclair/typebox';
import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { kindsAllowed, listed } from '../../../policy/scopes.js';
import { TenantDomainParams } from '../../schemas.js';
import { Page, pageOf, pageQuery } from '../../paging.js';
import { Resource } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const listResources: RouteModule = (app, { provisioner, domains, cursorKey }) => {
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
          { includeDeleted: Type.Optional(Type.Boolean()), ...pageQuery },
          { additionalProperties: false },
        ),
        response: { 200: Page(Resource) },
      },
    },
    async (request, reply) => {
      await domains.get(scopeOf(request)); // an unknown domain is a 404, not an empty list
      const kinds = kindsAllowed(request.principal, 'read');
      const { includeDeleted } = request.query;
      const items = await provisioner.list(scopeOf(request), {
        ...(includeDeleted === undefined ? {} : { includeDeleted }),
        ...(kinds === null ? {} : { kinds }),
      });
      return pageOf(cursorKey, request, reply, items);
    },
  );
};
