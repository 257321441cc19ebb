// Object access for storage resources. The body is streamed straight to the provider (which encrypts as
// it writes) and never buffered whole. Before it is read, the bytes it may add are reserved against the
// domain's storage quota (src/provisioner/storage-quota.ts), so parallel writes cannot overrun it; the
// size limit is the reservation. Only the domain's own key reaches these routes, scoped for `objects` on
// the resource's kind (checked when the resource is read, before any object is touched).
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { appendAudit } from '../../../audit/log.js';
import { BulkheadError, notFound } from '../../../errors.js';
import { ownDomainKey } from '../../../policy/policy.js';
import { fromStored, kindCheck } from '../../../policy/scopes.js';
import { hasObjects, isProviderError, type ResourceRef } from '../../../providers/provider.js';
import type { Services } from '../../../runtime.js';
import { DomainPathParam, ResourceIdParam } from '../../schemas.js';
import type { App } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

const ObjectParams = Type.Object(
  {
    domainId: DomainPathParam,
    resourceId: ResourceIdParam,
    '*': Type.String({ minLength: 1, maxLength: 1024, description: 'The object key.' }),
  },
  { additionalProperties: false },
);

/** Maps a provider's storage error (by its code) to the API's error; anything else passes through. */
function storageError(error: unknown, quotaLimited: boolean): unknown {
  if (!isProviderError(error)) return error;
  const code = error.code;
  if (code === 'invalid_object_key') return new BulkheadError('invalid_object_key', error.message);
  if (code === 'object_too_large') {
    return quotaLimited
      ? new BulkheadError('quota_exceeded', "The object would exceed the domain's storage quota.")
      : new BulkheadError('object_too_large');
  }
  if (code === 'not_found') return notFound();
  return error;
}

/** The body's declared length, or null when it is sent in chunks (or the header is not a plain number). */
function declaredLength(request: FastifyRequest): number | null {
  const header = request.headers['content-length'];
  if (header === undefined || !/^[0-9]{1,16}$/.test(header)) return null;
  return Number(header);
}

async function target(
  services: Services,
  request: FastifyRequest<{ Params: { domainId: string; resourceId: string } }>,
) {
  const { ref, provider } = await services.provisioner.readyRef(
    scopeOf(request),
    request.params.resourceId,
    'storage',
    kindCheck(request.principal, 'objects'),
  );
  if (!hasObjects(provider)) throw notFound();
  return { ref, provider: provider };
}

async function audit(
  services: Services,
  request: FastifyRequest,
  ref: ResourceRef,
  action: 'object.put' | 'object.delete',
  detail: Record<string, unknown>,
) {
  await services.store.withDomain(ref.domainId, (tx) =>
    appendAudit(tx, {
      ...actorOf(request),
      domainId: ref.domainId,
      action,
      target: ref.resourceId,
      outcome: 'success',
      detail,
    }),
  );
}

export function objects(app: App, services: Services): void {
  void app.register((scope: App, _opts, done) => {
    // Bodies here are object data, whatever their content type: hand the stream to the handler.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, next) => next(null, undefined));

    scope.put(
      '/v1/domains/:domainId/resources/:resourceId/objects/*',
      {
        config: { access: ownDomainKey(fromStored('objects')) },
        bodyLimit: services.limits.maxObjectBytes,
        schema: {
          operationId: 'putObject',
          summary: 'Store an object',
          description:
            'Streams the body into the storage resource, encrypted under a key of its own that is wrapped by the ' +
            "domain's data key. Replaces an object with the same key (the old data is overwritten).",
          params: ObjectParams,
          response: { 200: Type.Object({ key: Type.String(), size: Type.Integer() }) },
        },
      },
      async (request) => {
        const { ref, provider } = await target(services, request);
        const key = request.params['*'];
        const max = services.limits.maxObjectBytes;
        const declared = declaredLength(request);
        if (declared !== null && declared > max) throw new BulkheadError('object_too_large');
        // The room is reserved before a byte of the body is read: writes in parallel cannot all fit in
        // the same gap. A declared length reserves exactly that; otherwise whatever is left, up to the limit.
        const reservation = await services.storageQuota.reserve(
          ref,
          declared === null ? { upTo: max } : { exactly: declared },
        );
        const stopRenewing = services.storageQuota.keepAlive(reservation);
        let size: number;
        try {
          ({ size } = await provider.putObject(ref, key, request.raw, reservation.bytes));
        } catch (error) {
          throw storageError(error, reservation.quotaLimited);
        } finally {
          stopRenewing();
          await services.storageQuota.settle(ref, reservation.id);
        }
        await audit(services, request, ref, 'object.put', { key, size });
        return { key, size };
      },
    );

    scope.get(
      '/v1/domains/:domainId/resources/:resourceId/objects/*',
      {
        config: { access: ownDomainKey(fromStored('objects')) },
        schema: {
          operationId: 'getObject',
          summary: 'Read an object',
          params: ObjectParams,
          response: {
            200: Type.Unsafe<unknown>({
              type: 'string',
              format: 'binary',
              description: 'The object, as stored.',
            }),
          },
        },
      },
      async (request, reply) => {
        const { ref, provider } = await target(services, request);
        let found;
        try {
          found = await provider.getObject(ref, request.params['*']);
        } catch (error) {
          throw storageError(error, false);
        }
        if (found === null) throw notFound();
        return reply.type('application/octet-stream').header('content-length', found.size).send(found.body);
      },
    );

    scope.delete(
      '/v1/domains/:domainId/resources/:resourceId/objects/*',
      {
        config: { access: ownDomainKey(fromStored('objects')) },
        schema: {
          operationId: 'deleteObject',
          summary: 'Delete an object',
          description:
            'Overwrites the stored data and its key, then removes them. A key that holds no object answers ' +
            'the same 204: objects keep no record once deleted, so a retry cannot be told from a first try.',
          params: ObjectParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const { ref, provider } = await target(services, request);
        const key = request.params['*'];
        let deleted: boolean;
        try {
          deleted = await provider.deleteObject(ref, key);
        } catch (error) {
          throw storageError(error, false);
        }
        // A key that holds nothing (never written, or deleted by an earlier try) is deleted already: the
        // same 204, with nothing to settle or audit (docs/api.md, "Deleting twice").
        if (deleted) {
          await services.storageQuota.settle(ref, null);
          await audit(services, request, ref, 'object.delete', { key });
        }
        return reply.code(204).send(null);
      },
    );
    done();
  });
}
