import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { idSchemaPattern } from '../../../domain/ids.js';
import { timestampOf } from '../../../domain/timestamp.js';
import { grantableActions } from '../../../policy/grants.js';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { Page, pageOf, pageQuery } from '../../paging.js';
import { actorOf, itemOf, paramOf } from '../actor.js';
import { itemRoutes } from '../item.js';

const Grant = Type.Object({
  id: Type.String(),
  from: Type.String(),
  to: Type.String(),
  actions: Type.Array(Type.String()),
  resources: Type.Array(Type.String()),
  reason: Type.String(),
  createdBy: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  revokedAt: Type.Union([Timestamp, Type.Null()]),
});

const GrantParams = Type.Object(
  { grantId: Type.String({ pattern: idSchemaPattern('grant'), description: 'A grant id, `grt_…`.' }) },
  { additionalProperties: false },
);

export const grantRoutes: RouteModule = (app, { grants, cursorKey }) => {
  app.post(
    '/v1/grants',
    {
      config: { access: operatorOnly, idempotent: true },
      schema: {
        operationId: 'createGrant',
        summary: 'Let one domain act on another domain’s data',
        description:
          'Principals of `from` may then do `actions` on `resources` of `to` (`*` for all of them) until ' +
          '`expiresAt` (at most 90 days) or a revocation, whichever comes first. Every use is audited.',
        body: Type.Object(
          {
            from: DomainIdParam,
            to: DomainIdParam,
            actions: Type.Array(Type.Union(grantableActions.map((a) => Type.Literal(a))), {
              minItems: 1,
              maxItems: grantableActions.length,
            }),
            resources: Type.Array(Type.String({ maxLength: 40 }), { minItems: 1, maxItems: 100 }),
            expiresAt: Timestamp,
            reason: Type.String({ minLength: 1, maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Grant },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        await grants.create(actorOf(request), {
          ...request.body,
          expiresAt: timestampOf(request.body.expiresAt),
        }),
      ),
  );

  app.get(
    '/v1/grants',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listGrants',
        summary: 'List grants',
        description:
          'Live grants, or all of them with `includeInactive`; `domainId` keeps those of one domain.',
        querystring: Type.Object(
          {
            domainId: Type.Optional(DomainIdParam),
            includeInactive: Type.Optional(Type.Boolean()),
            ...pageQuery,
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Grant) },
      },
    },
    async (request, reply) => {
      const { domainId, includeInactive } = request.query;
      return pageOf(cursorKey, request, reply, await grants.list({ domainId, includeInactive }));
    },
  );

  const currentGrant = async (request: FastifyRequest) =>
    itemOf(await grants.list({ includeInactive: true }), paramOf(request, 'grantId'));

  const grant = itemRoutes(app, '/v1/grants/:grantId', GrantParams, Grant, currentGrant);
  grant.show(operatorOnly, {
    operationId: 'getGrant',
    summary: 'Show a grant',
    description: 'Live or not, with its `ETag`.',
  });
  grant.change(
    'DELETE',
    operatorOnly,
    {
      operationId: 'revokeGrant',
      summary: 'Revoke a grant',
      description: 'The very next request that relied on it is refused.',
    },
    async (request) => grants.revoke(actorOf(request), paramOf(request, 'grantId')),
  );
};
