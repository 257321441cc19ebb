import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { timestampOf } from '../../../domain/timestamp.js';
import { DomainParams, Timestamp } from '../../schemas.js';
import { IssuedKey, Scope } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const issueKey: RouteModule = (app, { keys }) => {
  app.post(
    '/v1/domains/:domainId/keys',
    {
      config: { access: operatorOnly, idempotent: true },
      schema: {
        operationId: 'issueKey',
        summary: 'Issue a provisioning key',
        description:
          'The response carries the secret `key` this once; only a keyed hash is stored. `scopes` are resource ' +
          'kinds (every action on the kind) or `kind:action` with action one of read, create, credentials, ' +
          'rotate, delete, objects (storage only); every kind when absent.',
        params: DomainParams,
        body: Type.Optional(
          Type.Object(
            {
              name: Type.Optional(
                Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }),
              ),
              scopes: Type.Optional(Type.Array(Scope, { minItems: 1, uniqueItems: true })),
              expiresAt: Type.Optional(Timestamp),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 201: IssuedKey },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const issued = await keys.issue(actorOf(request), scopeOf(request), {
        name: body.name,
        scopes: body.scopes,
        expiresAt: body.expiresAt === undefined ? undefined : timestampOf(body.expiresAt),
      });
      return reply.code(201).send(issued);
    },
  );
};
