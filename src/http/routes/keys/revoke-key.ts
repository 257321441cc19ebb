import { operatorOnly } from '../../../policy/policy.js';
import { Key, KeyParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { currentKey } from './get-key.js';

export const revokeKey: RouteModule = (app, { keys }) => {
  app.delete(
    '/v1/domains/:domainId/keys/:keyId',
    {
      config: { access: operatorOnly, current: currentKey({ keys }) },
      schema: {
        operationId: 'revokeKey',
        summary: 'Revoke a provisioning key',
        description: 'Takes effect for the very next request. Revoking a revoked key changes nothing.',
        params: KeyParams,
        response: { 200: Key },
      },
    },
    async (request) => keys.revoke(actorOf(request), scopeOf(request), request.params.keyId),
  );
};
