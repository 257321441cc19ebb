// The resources pages and their two changes: create a resource, delete one. Resources are created and
// deleted only with the domain's provisioning key (DESIGN.md, "Provisioning path"), so these forms ask
// an admin of the domain for the key, and the key goes the API's way: read by the key service (which
// audits a refusal), refused for another domain exactly like an invalid key here (and audited as the
// API audits it, `access.cross_domain` in the key's domain), its scopes checked, its use recorded, and
// the change made by the provisioner as the key's. The key is never stored, echoed or logged.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { resourceKinds, type ResourceKind } from '../../../domain/kinds.js';
import { BulkheadError, notFound } from '../../../errors.js';
import type { KeyPrincipal, PendingKeyUse } from '../../../keys/service.js';
import { domainAdmin } from '../../../policy/policy.js';
import { allows as keyAllows, kindCheck, type ScopeAction } from '../../../policy/scopes.js';
import type { ResourceView } from '../../../provisioner/provisioner.js';
import { auditCrossDomain, auditScopeDenied } from '../../audit-refusals.js';
import type { App } from '../../types.js';
import { allows, outcomePage, type Outcome, type Person, type PortalDeps } from './context.js';
import { adminForm, signedIn } from './pages.js';

const resourceId = /^res_[0-9a-hjkmnp-tv-z]{26}$/;
const resourceName = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The one answer for a key that is unknown, revoked, expired, malformed or of another domain. */
const keyRefused = 'That is not a live provisioning key of this domain. Nothing was changed.';

/** The resources list, with the create form for an admin. */
async function resourcesPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  person: Person,
  extras: Outcome & {
    created?: ResourceView;
    credentials?: { name: string; value: string }[];
  } = {},
) {
  return outcomePage(deps, request, reply, person, 'resources', 'Resources', extras, {
    items: await deps.services.provisioner.list(person.domainId),
    admin: allows(person, domainAdmin),
    kinds: deps.services.provisioner.kinds,
    created: extras.created ?? null,
    credentials: extras.credentials ?? null,
  });
}

/** One resource, with the delete form for an admin. */
async function resourcePage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  person: Person,
  id: string,
  extras: Outcome = {},
) {
  const resource = await deps.services.provisioner.get(person.domainId, id);
  return outcomePage(deps, request, reply, person, 'resource', resource.name, extras, {
    resource,
    admin: allows(person, domainAdmin) && resource.status !== 'deleted',
  });
}

const ResourceParams = Type.Object(
  { resourceId: Type.String({ maxLength: 100 }) },
  { additionalProperties: false },
);
const CreateBody = Type.Object(
  {
    csrf: Type.String({ maxLength: 200 }),
    key: Type.String({ maxLength: 8192 }),
    kind: Type.String({ maxLength: 40 }),
    name: Type.String({ maxLength: 200 }),
  },
  { additionalProperties: false },
);
const DeleteBody = Type.Object(
  { csrf: Type.String({ maxLength: 200 }), key: Type.String({ maxLength: 8192 }) },
  { additionalProperties: false },
);

/** A refusal a person can act on (a name taken, the quota reached): shown on the page. */
function fixable(error: unknown): error is BulkheadError {
  return error instanceof BulkheadError && error.status >= 400 && error.status < 500 && error.status !== 404;
}

export function resourceRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;
  const attempt = (request: FastifyRequest) => ({
    requestId: String(request.id),
    route: request.routeOptions.url ?? null,
    method: request.method,
  });

  /**
   * The typed key's pending use when it is a live key of the person's domain, else null. A key of
   * another domain is audited there as the API audits it (its use, then `access.cross_domain`) and
   * answers the same as a key that does not exist.
   */
  async function domainKey(request: FastifyRequest, person: Person, presented: string) {
    let use: PendingKeyUse;
    try {
      use = await services.keys.authenticateLater(presented.trim(), String(request.id));
    } catch (error) {
      // The key service has audited the refusal with its reason.
      if (error instanceof BulkheadError && error.code === 'invalid_credentials') return null;
      throw error;
    }
    if (use.principal.domainId === person.domainId) return use;
    await auditCrossDomain(services.store, use.principal, person.domainId, attempt(request));
    try {
      await use.record();
    } catch (error) {
      if (!(error instanceof BulkheadError && error.code === 'invalid_credentials')) throw error;
    }
    return null;
  }

  /** A key's scope refusal, audited as the API audits it. */
  async function scopeRefused(
    request: FastifyRequest,
    principal: KeyPrincipal,
    target: string | null,
    kind: string,
    action: ScopeAction,
  ): Promise<Outcome> {
    await auditScopeDenied(services.store, principal, target, { kind, action }, attempt(request));
    return { status: 403, failed: true, message: `The key is not scoped for "${kind}:${action}".` };
  }

  app.get('/resources', { schema: { hide: true } }, async (request, reply) => {
    const person = await signedIn(deps, request, reply);
    if (person === null) return reply;
    return resourcesPage(deps, request, reply, person);
  });

  app.get(
    '/resources/:resourceId',
    { schema: { hide: true, params: ResourceParams } },
    async (request, reply) => {
      const person = await signedIn(deps, request, reply);
      if (person === null) return reply;
      if (!resourceId.test(request.params.resourceId)) throw notFound();
      return resourcePage(deps, request, reply, person, request.params.resourceId);
    },
  );

  app.post('/resources', { schema: { hide: true, body: CreateBody } }, async (request, reply) => {
    const person = await adminForm(deps, request, reply, request.body.csrf);
    if (person === null) return reply;
    reply.header('cache-control', 'no-store');
    const answer = (extras: Parameters<typeof resourcesPage>[4]) =>
      resourcesPage(deps, request, reply, person, extras);
    const { name } = request.body;
    const kind = request.body.kind as ResourceKind;
    if (!(resourceKinds as readonly string[]).includes(kind) || !services.provisioner.kinds.includes(kind))
      return answer({ status: 400, failed: true, message: 'Choose a kind this server offers.' });
    if (!resourceName.test(name))
      return answer({
        status: 400,
        failed: true,
        message: 'A name is 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit.',
      });
    const use = await domainKey(request, person, request.body.key);
    if (use === null) return answer({ status: 403, failed: true, message: keyRefused });
    const principal = use.principal;
    try {
      if (!keyAllows(principal.scopes, kind, 'create'))
        return await answer(await scopeRefused(request, principal, null, kind, 'create'));
      let resource: ResourceView;
      try {
        ({ resource } = await services.provisioner.create({
          principal,
          requestId: String(request.id),
          domainId: person.domainId,
          kind,
          name,
          use,
        }));
      } catch (error) {
        if (!fixable(error)) throw error;
        if (error.code === 'scope_denied')
          return await answer(await scopeRefused(request, principal, null, kind, 'create'));
        return await answer({ status: error.status, failed: true, message: error.message });
      }
      // The credentials are read as the API's credentials route reads them (audited), when the key may.
      let credentials: { name: string; value: string }[] | undefined;
      let note = '';
      if (resource.status !== 'ready') note = ' It is not ready yet: open it again in a moment.';
      else if (!keyAllows(principal.scopes, kind, 'credentials'))
        note = ' The key is not scoped to read its credentials.';
      else {
        const read = await services.provisioner.credentials(
          { actor: principal.actor, requestId: String(request.id) },
          person.domainId,
          resource.id,
          kindCheck(principal, 'credentials'),
        );
        credentials = Object.entries(read).map(([field, value]) => ({ name: field, value: String(value) }));
      }
      return await answer({
        status: 201,
        message: `Created ${resource.name}.${note}`,
        created: resource,
        ...(credentials === undefined ? {} : { credentials }),
      });
    } finally {
      // As the API does before it answers: a use the change did not record is recorded on its own.
      if (!use.settled) await use.record();
    }
  });

  app.post(
    '/resources/:resourceId/delete',
    { schema: { hide: true, params: ResourceParams, body: DeleteBody } },
    async (request, reply) => {
      const person = await adminForm(deps, request, reply, request.body.csrf);
      if (person === null) return reply;
      const id = request.params.resourceId;
      if (!resourceId.test(id)) throw notFound();
      const use = await domainKey(request, person, request.body.key);
      if (use === null)
        return resourcePage(deps, request, reply, person, id, {
          status: 403,
          failed: true,
          message: keyRefused,
        });
      // The API records the use of a key before its handler runs on this route.
      await use.record();
      const principal = use.principal;
      let deleted: ResourceView;
      try {
        deleted = await services.provisioner.delete(
          { actor: principal.actor, requestId: String(request.id) },
          person.domainId,
          id,
          kindCheck(principal, 'delete'),
        );
      } catch (error) {
        if (!(error instanceof BulkheadError) || error.code !== 'scope_denied') throw error;
        const cause = error.cause as { kind?: unknown } | undefined;
        const kind = typeof cause?.kind === 'string' ? cause.kind : '';
        return resourcePage(
          deps,
          request,
          reply,
          person,
          id,
          await scopeRefused(request, principal, id, kind, 'delete'),
        );
      }
      return resourcesPage(deps, request, reply, person, {
        message: `Deleted ${deleted.name}: its data is removed from the backend.`,
      });
    },
  );
}
