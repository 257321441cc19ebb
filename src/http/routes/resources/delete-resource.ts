import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { fromStored, kindCheck } from '../../../policy/scopes.js';
import { Resource, ResourceParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { currentResource } from './current.js';

export const deleteResource: RouteModule = (app, { provisioner }) => {
  app.delete(
    '/v1/domains/:domainId/resources/:resourceId',
    {
      config: {
        access: operatorOrOwnDomain(fromStored('delete')),
        current: currentResource(provisioner, 'delete'),
      },
      schema: {
        operationId: 'deleteResource',
        summary: 'Deprovision a resource',
        description:
          'Ends its sessions and removes it and its data from the backend. Its backend names are never given out again. ' +
          'A key needs `delete` on the resource’s kind (403 `scope_denied` otherwise, with nothing changed).',
        params: ResourceParams,
        response: { 200: Resource },
      },
    },
    async (request) =>
      provisioner.delete(
        actorOf(request),
        scopeOf(request),
        request.params.resourceId,
        kindCheck(request.principal, 'delete'),
      ),
  );
};
