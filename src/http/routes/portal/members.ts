// The members page's changes: add a user or a service, disable one, give a user a new password, change a
// role. Who may
// is the API's rule (`domainAdmin`, decided by the policy): an admin of the domain; a member sees the
// list read-only and its forms are refused. Each change is the principal service's, in the host's
// domain, so another domain's principal id is not found there, exactly like an unknown one.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BulkheadError } from '../../../errors.js';
import { decide, domainAdmin, type Access } from '../../../policy/policy.js';
import { fromThisSite } from '../../same-site.js';
import type { App } from '../../types.js';
import { checkForm, formToken, renderPage, type Person, type PortalDeps } from './context.js';
import { signedIn } from './pages.js';

/** Whether the policy lets the person through `access` in its own domain. */
export function allows(person: Person, access: Access): boolean {
  return decide(person, access, { domainId: person.domainId }).allow;
}

/** Throws the policy's refusal when the person may not use `access`. */
export function requireAccess(person: Person, access: Access): void {
  const decision = decide(person, access, { domainId: person.domainId });
  if (!decision.allow) throw new BulkheadError(decision.code === 'not_found' ? 'not_found' : decision.code);
}

export async function membersPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  person: Person,
  extras: {
    status?: number;
    message?: string;
    failed?: boolean;
    secret?: { clientId: string; clientSecret: string };
  } = {},
) {
  return renderPage(deps, request, reply, 'members', {
    title: 'Members',
    person,
    csrf: formToken(deps, person),
    status: extras.status ?? 200,
    data: {
      items: await deps.services.principals.list(person.domainId),
      admin: allows(person, domainAdmin),
      me: person.subject,
      message: extras.message ?? null,
      failed: extras.failed ?? false,
      secret: extras.secret ?? null,
    },
  });
}

const principalId = /^prn_[0-9a-hjkmnp-tv-z]{26}$/;

const PrincipalParams = Type.Object(
  { principalId: Type.String({ maxLength: 100 }) },
  { additionalProperties: false },
);
const CsrfBody = Type.Object({ csrf: Type.String({ maxLength: 200 }) }, { additionalProperties: false });
const AddBody = Type.Object(
  {
    csrf: Type.String({ maxLength: 200 }),
    kind: Type.Union([Type.Literal('user'), Type.Literal('service')]),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    password: Type.Optional(Type.String({ maxLength: 1024 })),
    role: Type.Union([Type.Literal('member'), Type.Literal('admin')]),
  },
  { additionalProperties: false },
);
const RoleBody = Type.Object(
  {
    csrf: Type.String({ maxLength: 200 }),
    role: Type.Union([Type.Literal('member'), Type.Literal('admin')]),
  },
  { additionalProperties: false },
);
const PasswordBody = Type.Object(
  { csrf: Type.String({ maxLength: 200 }), password: Type.String({ maxLength: 1024 }) },
  { additionalProperties: false },
);

/** A refusal a person can fix (a weak password, a taken email): the page again, with what to fix. */
function fixable(error: unknown): error is BulkheadError {
  return error instanceof BulkheadError && (error.status === 400 || error.status === 409);
}

export function memberRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;

  /** The signed-in admin whose form this is, or null with the sign-in page sent. */
  async function admin(request: FastifyRequest, reply: FastifyReply, token: string) {
    const person = await signedIn(deps, request, reply);
    if (person === null) return null;
    checkForm(deps, request, person, token, fromThisSite);
    requireAccess(person, domainAdmin);
    return person;
  }

  app.post('/members', { schema: { hide: true, body: AddBody } }, async (request, reply) => {
    const person = await admin(request, reply, request.body.csrf);
    if (person === null) return reply;
    const body = request.body;
    const actor = { actor: person.actor, requestId: String(request.id) };
    try {
      if (body.kind === 'user') {
        const created = await services.principals.create(actor, person.domainId, {
          kind: 'user',
          email: body.email ?? '',
          password: body.password ?? '',
          role: body.role,
        });
        return await membersPage(deps, request, reply, person, {
          message: `Added ${created.email ?? created.id}.`,
        });
      }
      const created = await services.principals.create(actor, person.domainId, {
        kind: 'service',
        role: body.role,
      });
      return await membersPage(deps, request, reply, person, {
        message: 'Added the service.',
        secret: { clientId: created.clientId ?? '', clientSecret: created.clientSecret ?? '' },
      });
    } catch (error) {
      if (!fixable(error)) throw error;
      return membersPage(deps, request, reply, person, {
        status: error.status,
        message: error.message,
        failed: true,
      });
    }
  });

  app.post(
    '/members/:principalId/disable',
    { schema: { hide: true, params: PrincipalParams, body: CsrfBody } },
    async (request, reply) => {
      const person = await admin(request, reply, request.body.csrf);
      if (person === null) return reply;
      if (!principalId.test(request.params.principalId)) throw new BulkheadError('not_found');
      const done = await services.principals.setStatus(
        { actor: person.actor, requestId: String(request.id) },
        person.domainId,
        request.params.principalId,
        'disabled',
      );
      return membersPage(deps, request, reply, person, {
        message: `Disabled ${done.email ?? done.clientId ?? done.id}; its sessions are ended.`,
      });
    },
  );

  app.post(
    '/members/:principalId/role',
    { schema: { hide: true, params: PrincipalParams, body: RoleBody } },
    async (request, reply) => {
      const person = await admin(request, reply, request.body.csrf);
      if (person === null) return reply;
      if (!principalId.test(request.params.principalId)) throw new BulkheadError('not_found');
      const done = await services.principals.setRole(
        { actor: person.actor, requestId: String(request.id) },
        person.domainId,
        request.params.principalId,
        request.body.role,
      );
      return membersPage(deps, request, reply, person, {
        // The same role again changes nothing, so the message says what holds, not what happened.
        message: `${done.email ?? done.clientId ?? done.id} is ${done.role === 'admin' ? 'an admin' : 'a member'}; a change of role ends its sessions.`,
      });
    },
  );

  app.post(
    '/members/:principalId/password',
    { schema: { hide: true, params: PrincipalParams, body: PasswordBody } },
    async (request, reply) => {
      const person = await admin(request, reply, request.body.csrf);
      if (person === null) return reply;
      if (!principalId.test(request.params.principalId)) throw new BulkheadError('not_found');
      try {
        const done = await services.principals.setPassword(
          { actor: person.actor, requestId: String(request.id) },
          person.domainId,
          request.params.principalId,
          request.body.password,
        );
        return await membersPage(deps, request, reply, person, {
          message: `Set a new password for ${done.email ?? done.id}; its sessions are ended.`,
        });
      } catch (error) {
        if (!fixable(error)) throw error;
        return membersPage(deps, request, reply, person, {
          status: error.status,
          message: error.message,
          failed: true,
        });
      }
    },
  );
}
