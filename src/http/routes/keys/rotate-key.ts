import { Type } from '@sinclair/typebox';
import { maxRotationOverlapSeconds } from '../../../keys/service.js';
import { operatorOnly } from '../../../policy/policy.js';
import { IssuedKey, Key, KeyParams } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { currentKey } from './get-key.js';

export const rotateKey: RouteModule = (app, { keys }) => {
  app.post(
    '/v1/domains/:domainId/keys/:keyId/rotate',
    {
      config: { access: operatorOnly, current: currentKey({ keys }), idempotent: true },
      schema: {
        operationId: 'rotateKey',
        summary: 'Rotate a provisioning key',
        description:
          'Issues a successor with the same name and scopes. The old key stays valid for `overlapSeconds` ' +
          '(default 86400; 0 ends it at once) and then expires; `previous.expiresAt` says when.',
        params: KeyParams,
        body: Type.Optional(
          Type.Object(
            {
              overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: maxRotationOverlapSeconds })),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 201: Type.Object({ key: IssuedKey, previous: Key }) },
      },
    },
    async (request, reply) => {
      const overlap = request.body?.overlapSeconds ?? 86_400;
      const result = await keys.rotate(actorOf(request), scopeOf(request), request.params.keyId, overlap);
      return reply.code(201).send(result);
    },
  );
};
