import { operatorOnly } from '../../../policy/policy.js';
import { DomainParams } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const deleteDomain: RouteModule = (app, { domains, provisioner }) => {
  app.delete(
    '/v1/domains/:domainId',
    {
      config: { access: operatorOnly, current: (request) => domains.get(scopeOf(request)) },
      schema: {
        operationId: 'deleteDomain',
        summary: 'Delete a domain',
        description:
          'Revokes every key of the domain, ends its instances and marks its resources for deprovisioning and ' +
          'its volumes for zeroing; the reconcilers (started at once) remove them from their backends, destroy ' +
          'the domain’s data key and, once its final invoice is written, delete every row it owned but its ' +
          'audit trail and invoices. The record stays, with status `deleted`, for the audit trail.',
        params: DomainParams,
        response: { 200: Domain },
      },
    },
    async (request) => {
      const deleted = await domains.delete(actorOf(request), scopeOf(request));
      // Start removing its resources now rather than at the next interval; failures are retried there.
      provisioner.reconcile().catch((error: unknown) => provisioner.onError(error, scopeOf(request)));
      return deleted;
    },
  );
};
