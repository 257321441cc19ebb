import type { FastifyRequest } from 'fastify';
import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import type { Services } from '../../../runtime.js';
import { Key, KeyParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { itemOf, paramOf, scopeOf } from '../actor.js';

/** The key the path names, as the list shows it: what its ETag is made of, for GET and If-Match. */
export const currentKey =
  ({ keys }: Pick<Services, 'keys'>) =>
  async (request: FastifyRequest) =>
    itemOf(await keys.list(scopeOf(request)), paramOf(request, 'keyId'));

export const getKey: RouteModule = (app, services) => {
  app.get(
    '/v1/domains/:domainId/keys/:keyId',
    {
      config: {
        access: operatorOrOwnDomain(unscoped("one of the domain's keys: its id, prefix, scopes and times")),
        etag: true,
      },
      schema: {
        operationId: 'getKey',
        summary: 'Show a provisioning key',
        description: 'Its id, prefix, scopes and times, never the secret, with its `ETag`.',
        params: KeyParams,
        response: { 200: Key },
      },
    },
    currentKey(services),
  );
};
