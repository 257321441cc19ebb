import type { FastifyRequest } from 'fastify';
import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import type { Services } from '../../../runtime.js';
import { Key, KeyParams } from './schemas.js';
import type { App, RouteModule } from '../../types.js';
import { itemOf, paramOf, scopeOf } from '../actor.js';
import { itemRoutes } from '../item.js';

/** The key the path names, as the list shows it: what its ETag is made of, for GET and If-Match. */
export const currentKey =
  ({ keys }: Pick<Services, 'keys'>) =>
  async (request: FastifyRequest) =>
    itemOf(await keys.list(scopeOf(request)), paramOf(request, 'keyId'));

/** The routes of the key the path names. */
export const keyRoutes = (app: App, services: Pick<Services, 'keys'>) =>
  itemRoutes(app, '/v1/domains/:domainId/keys/:keyId', KeyParams, Key, currentKey(services));

export const getKey: RouteModule = (app, services) => {
  keyRoutes(app, services).show(
    operatorOrOwnDomain(unscoped("one of the domain's keys: its id, prefix, scopes and times")),
    {
      operationId: 'getKey',
      summary: 'Show a provisioning key',
      description: 'Its id, prefix, scopes and times, never the secret, with its `ETag`.',
    },
  );
};
