import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { fromStored, kindCheck } from '../../../policy/scopes.js';
import { Resource, ResourceParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const getResource: RouteModule = (app, { provisioner }) => {
  app.get(
    '/v1/domains/:domainId/resources/:resourceId',
    {
      config: { access: operatorOrOwnDomain(fromStored('read')), etag: true },
      schema: {
        operationId: 'getResource',
        summary: 'Show a resource',
        description: 'A key needs `read` on the resource’s kind (403 `scope_denied` otherwise).',
        params: ResourceParams,
        response: { 200: Resource },
      },
    },
    async (request) =>
      provisioner.get(scopeOf(request), request.params.resourceId, kindCheck(request.principal, 'read')),
  );
};
