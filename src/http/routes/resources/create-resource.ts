import { Type } from '@sinclair/typebox';
import { ownDomainKey } from '../../../policy/policy.js';
import { fromRequest, kindCheck } from '../../../policy/scopes.js';
import { TenantDomainParams, ResourceKind } from '../../schemas.js';
import { Resource } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const createResource: RouteModule = (app, { provisioner }) => {
  app.post(
    '/v1/domains/:domainId/resources',
    {
      config: { access: ownDomainKey(fromRequest('create')), keyUse: 'with-change' },
      schema: {
        operationId: 'createResource',
        summary: 'Provision a resource',
        description:
          "Needs the domain's provisioning key, scoped to create the kind (`kind` or `kind:create`). The key, the " +
          'domain and the quota are checked ' +
          'in the transaction that reserves the resource. 201 when it is ready; 202 when an earlier request with ' +
          'the same `Idempotency-Key` is still allocating it. Backend names are derived from the ids.',
        params: TenantDomainParams,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,200}$' })),
        }),
        body: Type.Object(
          {
            kind: ResourceKind,
            name: Type.String({
              pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
              description: 'A label, unique per kind in the domain.',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Resource, 201: Resource, 202: Resource },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (principal?.kind !== 'provisioning_key') throw new Error('route access lets only keys through');
      // Before anything is reserved; the reservation checks the stored key's scopes again.
      kindCheck(principal, 'create')(request.body.kind);
      const { resource, replay } = await provisioner.create({
        principal,
        requestId: String(request.id),
        domainId: scopeOf(request),
        ...request.body,
        idempotencyKey: request.headers['idempotency-key'],
        use: request.keyUse ?? undefined,
      });
      const status =
        resource.status === 'ready' ? (replay ? 200 : 201) : resource.status === 'provisioning' ? 202 : 200;
      if (replay) reply.header('idempotent-replay', 'true');
      return reply
        .code(status)
        .header('location', `/v1/domains/${resource.domainId}/resources/${resource.id}`)
        .send(resource);
    },
  );
};
