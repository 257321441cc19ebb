import { ownDomainKey } from '../../../policy/policy.js';
import { fromStored, kindCheck } from '../../../policy/scopes.js';
import { Credentials, ResourceParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { currentResource } from './current.js';

export const rotateCredentials: RouteModule = (app, { provisioner }) => {
  app.post(
    '/v1/domains/:domainId/resources/:resourceId/credentials/rotate',
    {
      config: {
        access: ownDomainKey(fromStored('rotate')),
        current: currentResource(provisioner, 'rotate'),
      },
      schema: {
        operationId: 'rotateResourceCredentials',
        summary: 'Issue new credentials for a ready resource; the old ones stop working',
        description:
          "Only the domain's own provisioning key. The backend issues new credentials (a new password or " +
          'token; Redis users and RabbitMQ connections of the resource are ended), they are stored encrypted ' +
          'and returned once. 409 `resource_not_ready` unless the resource is ready; 502 when the backend ' +
          'fails, with nothing changed in the store. Audited. The key needs `rotate` on the resource’s kind ' +
          '(403 `scope_denied` otherwise, before the backend is asked).',
        params: ResourceParams,
        response: { 200: Credentials },
      },
    },
    async (request) =>
      provisioner.rotateCredentials(
        actorOf(request),
        scopeOf(request),
        request.params.resourceId,
        kindCheck(request.principal, 'rotate'),
      ),
  );
};
