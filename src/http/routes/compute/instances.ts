import { Type } from '@sinclair/typebox';
import { idSchemaPattern } from '../../../domain/ids.js';
import { domainData } from '../../../policy/policy.js';
import { DomainPathParam, TenantDomainParams, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { Page, PageQuery, pageOf } from '../../paging.js';
import { actorOf, paramOf, scopeOf } from '../actor.js';
import { itemRoutes } from '../item.js';

export const InstanceIdParam = Type.String({
  pattern: idSchemaPattern('instance'),
  description: 'An instance id, `ins_…`.',
});

const InstanceParams = Type.Object(
  { domainId: DomainPathParam, instanceId: InstanceIdParam },
  { additionalProperties: false },
);

export const ResourceName = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
  description: 'Lowercase letters, digits and `-`, at most 63 characters.',
});

const Instance = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  name: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('deleted')]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  deletedAt: Type.Union([Timestamp, Type.Null()]),
});

export const instanceRoutes: RouteModule = (app, { compute, cursorKey }) => {
  app.post(
    '/v1/domains/:domainId/instances',
    {
      config: { access: domainData('instances', 'create'), idempotent: true },
      schema: {
        operationId: 'createInstance',
        summary: 'Create an instance',
        params: TenantDomainParams,
        body: Type.Object({ name: ResourceName }, { additionalProperties: false }),
        response: { 201: Instance },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await compute.createInstance(actorOf(request), scopeOf(request), request.body)),
  );

  app.get(
    '/v1/domains/:domainId/instances',
    {
      config: { access: domainData('instances', 'read') },
      schema: {
        operationId: 'listInstances',
        summary: "List a domain's instances",
        params: TenantDomainParams,
        querystring: PageQuery,
        response: { 200: Page(Instance) },
      },
    },
    async (request, reply) =>
      pageOf(cursorKey, request, reply, await compute.listInstances(scopeOf(request))),
  );

  const instance = itemRoutes(
    app,
    '/v1/domains/:domainId/instances/:instanceId',
    InstanceParams,
    Instance,
    (request) => compute.getInstance(scopeOf(request), paramOf(request, 'instanceId')),
  );
  instance.show(domainData('instances', 'read', 'instanceId'), {
    operationId: 'getInstance',
    summary: 'Show an instance',
  });
  instance.change(
    'DELETE',
    domainData('instances', 'delete', 'instanceId'),
    {
      operationId: 'deleteInstance',
      summary: 'Delete an instance',
      description: 'Its volumes are detached and kept.',
    },
    async (request) =>
      compute.deleteInstance(actorOf(request), scopeOf(request), paramOf(request, 'instanceId')),
  );
};
