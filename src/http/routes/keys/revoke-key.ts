import { operatorOnly } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';
import { actorOf, paramOf, scopeOf } from '../actor.js';
import { keyRoutes } from './get-key.js';

export const revokeKey: RouteModule = (app, { keys }) => {
  keyRoutes(app, { keys }).change(
    'DELETE',
    operatorOnly,
    {
      operationId: 'revokeKey',
      summary: 'Revoke a provisioning key',
      description: 'Takes effect for the very next request. Revoking a revoked key changes nothing.',
    },
    async (request) => keys.revoke(actorOf(request), scopeOf(request), paramOf(request, 'keyId')),
  );
};
