import { Type } from '@sinclair/typebox';
import { idSchemaPattern } from '../../../domain/ids.js';
import { maxBlueprintItems } from '../../../provisioner/blueprints.js';
import { operatorOrOwnDomain, ownDomainKey } from '../../../policy/policy.js';
import { fromRequest, fromStored, kindCheck } from '../../../policy/scopes.js';
import { DomainPathParam, TenantDomainParams, ResourceKind, Timestamp } from '../../schemas.js';
import { Resource } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });

const Blueprint = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  name: Type.String(),
  status: Type.Union(['provisioning', 'ready', 'rolling_back', 'rolled_back'].map((s) => Type.Literal(s))),
  error: Type.Union([Type.String(), Type.Null()]),
  resources: Type.Array(Resource),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const blueprintRoutes: RouteModule = (app, { blueprints }) => {
  app.post(
    '/v1/domains/:domainId/blueprints',
    {
      config: { access: ownDomainKey(fromRequest('create')), idempotent: true },
      schema: {
        operationId: 'createBlueprint',
        summary: 'Provision a set of resources as one',
        description:
          'Every resource is provisioned through the ordinary path (key, scope, quota checked for each). 201 when ' +
          'all are ready; otherwise every resource already made is deprovisioned, the blueprint is `rolled_back`, ' +
          'and the answer is the error of the step that failed.',
        params: TenantDomainParams,
        body: Type.Object(
          {
            name: Name,
            resources: Type.Array(
              Type.Object({ kind: ResourceKind, name: Name }, { additionalProperties: false }),
              {
                minItems: 1,
                maxItems: maxBlueprintItems,
              },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Blueprint },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (principal?.kind !== 'provisioning_key') throw new Error('route access lets only keys through');
      const created = await blueprints.create(principal, String(request.id), scopeOf(request), request.body);
      return reply
        .code(201)
        .header('location', `/v1/domains/${created.domainId}/blueprints/${created.id}`)
        .send(created);
    },
  );

  app.get(
    '/v1/domains/:domainId/blueprints/:blueprintId',
    {
      config: { access: operatorOrOwnDomain(fromStored('read')), etag: true },
      schema: {
        operationId: 'getBlueprint',
        summary: 'Show a blueprint and its resources',
        description: 'A key needs `read` on every kind the blueprint holds (403 `scope_denied` otherwise).',
        params: Type.Object(
          { domainId: DomainPathParam, blueprintId: Type.String({ pattern: idSchemaPattern('blueprint') }) },
          { additionalProperties: false },
        ),
        response: { 200: Blueprint },
      },
    },
    async (request) =>
      blueprints.get(scopeOf(request), request.params.blueprintId, kindCheck(request.principal, 'read')),
  );
};
