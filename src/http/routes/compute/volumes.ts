import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { idSchemaPattern } from '../../../domain/ids.js';
import { domainData } from '../../../policy/policy.js';
import { DomainPathParam, TenantDomainParams, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { Page, PageQuery, pageOf } from '../../paging.js';
import { actorOf, paramOf, scopeOf } from '../actor.js';
import { InstanceIdParam, ResourceName } from './instances.js';
import { itemRoutes } from '../item.js';

const VolumeParams = Type.Object(
  {
    domainId: DomainPathParam,
    volumeId: Type.String({ pattern: idSchemaPattern('volume'), description: 'A volume id, `vol_…`.' }),
  },
  { additionalProperties: false },
);

const Volume = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  name: Type.String(),
  sizeBytes: Type.Integer(),
  status: Type.Union(['available', 'attached', 'deleting', 'deleted'].map((s) => Type.Literal(s))),
  instanceId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  attachedAt: Type.Union([Timestamp, Type.Null()]),
  deletedAt: Type.Union([Timestamp, Type.Null()]),
});

export const volumeRoutes: RouteModule = (app, { compute, cursorKey }) => {
  const currentVolume = (request: FastifyRequest) =>
    compute.getVolume(scopeOf(request), paramOf(request, 'volumeId'));
  const volume = itemRoutes(
    app,
    '/v1/domains/:domainId/volumes/:volumeId',
    VolumeParams,
    Volume,
    currentVolume,
  );
  app.post(
    '/v1/domains/:domainId/volumes',
    {
      config: { access: domainData('volumes', 'create'), idempotent: true },
      schema: {
        operationId: 'createVolume',
        summary: 'Create a volume',
        params: TenantDomainParams,
        body: Type.Object(
          { name: ResourceName, sizeBytes: Type.Integer({ minimum: 1 }) },
          { additionalProperties: false },
        ),
        response: { 201: Volume },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await compute.createVolume(actorOf(request), scopeOf(request), request.body)),
  );

  app.get(
    '/v1/domains/:domainId/volumes',
    {
      config: { access: domainData('volumes', 'read') },
      schema: {
        operationId: 'listVolumes',
        summary: "List a domain's volumes",
        params: TenantDomainParams,
        querystring: PageQuery,
        response: { 200: Page(Volume) },
      },
    },
    async (request, reply) => pageOf(cursorKey, request, reply, await compute.listVolumes(scopeOf(request))),
  );

  volume.show(domainData('volumes', 'read', 'volumeId'), {
    operationId: 'getVolume',
    summary: 'Show a volume',
  });

  app.post(
    '/v1/domains/:domainId/volumes/:volumeId/attach',
    {
      config: { access: domainData('volumes', 'attach', 'volumeId'), current: currentVolume },
      schema: {
        operationId: 'attachVolume',
        summary: 'Attach a volume to an instance of the same domain',
        description:
          'An instance of another domain answers exactly like an instance that does not exist: 404.',
        params: VolumeParams,
        body: Type.Object({ instanceId: InstanceIdParam }, { additionalProperties: false }),
        response: { 200: Volume },
      },
    },
    async (request) =>
      compute.attach(actorOf(request), scopeOf(request), request.params.volumeId, request.body.instanceId),
  );

  volume.change(
    'POST',
    domainData('volumes', 'attach', 'volumeId'),
    { operationId: 'detachVolume', summary: 'Detach a volume from its instance' },
    async (request) => compute.detach(actorOf(request), scopeOf(request), paramOf(request, 'volumeId')),
    '/detach',
  );

  volume.change(
    'DELETE',
    domainData('volumes', 'delete', 'volumeId'),
    {
      operationId: 'deleteVolume',
      summary: 'Delete a volume',
      description:
        'Answers at once with the volume `deleting`; from then on it is not found. A background worker ' +
        'overwrites every byte with zeros at a bounded rate and flushes them before its space is released; ' +
        "until then it still counts against the domain's volume quotas.",
    },
    async (request) => compute.deleteVolume(actorOf(request), scopeOf(request), paramOf(request, 'volumeId')),
  );
};
