import { ownDomainKey } from '../../../policy/policy.js';
import { fromStored, kindCheck } from '../../../policy/scopes.js';
import { Credentials, ResourceParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const getCredentials: RouteModule = (app, { provisioner }) => {
  app.get(
    '/v1/domains/:domainId/resources/:resourceId/credentials',
    {
      config: { access: ownDomainKey(fromStored('credentials')) },
      schema: {
        operationId: 'getResourceCredentials',
        summary: "A ready resource's credentials",
        description:
          "Only the domain's own provisioning key gets them (not the operator). Stored encrypted under the " +
          "domain's data key; every read is audited. The key needs `credentials` on the resource's kind (403 " +
          '`scope_denied` otherwise, checked before anything is decrypted).',
        params: ResourceParams,
        response: { 200: Credentials },
      },
    },
    async (request) =>
      provisioner.credentials(
        actorOf(request),
        scopeOf(request),
        request.params.resourceId,
        kindCheck(request.principal, 'credentials'),
      ),
  );
};
