import { Type } from '@sinclair/typebox';
import { ownDomainKey } from '../../../policy/policy.js';
import { fromRequest, kindCheck } from '../../../policy/scopes.js';
import { TenantDomainParams, ResourceKind } from '../../schemas.js';
import { Resource } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

/** The key stored on the resource row: the credential's, so it is unique as the shared plugin's claims are. */
function idempotencyKeyOf(actor: string, key: string | string[] | undefined): string | undefined {
  return typeof key === 'string' ? `${actor} ${key}` : undefined;
}

export const createResource: RouteModule = (app, { provisioner }) => {
  app.post(
    '/v1/domains/:domainId/resources',
    {
      config: { access: ownDomainKey(fromRequest('create')), keyUse: 'with-change', idempotent: true },
      schema: {
        operationId: 'createResource',
        summary: 'Provision a resource',
        description:
          "Needs the domain's provisioning key, scoped to create the kind (`kind` or `kind:create`). The key, the " +
          'domain and the quota are checked ' +
          'in the transaction that reserves the resource. 201 when it is ready. With `Idempotency-Key`, as every ' +
          'create: the same key and body answer the first answer again, another body is 422. The key is also ' +
          'stored on the resource, so a retry after the server stopped mid-create (the kept answer is lost) finds it: 200 when it is ready, 202 while it is still allocated. Backend names are derived from the ids.',
        params: TenantDomainParams,
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
        // Per credential, as the kept answers are: another key's identical Idempotency-Key is another request.
        idempotencyKey: idempotencyKeyOf(principal.actor, request.headers['idempotency-key']),
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
