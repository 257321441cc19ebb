// The members page's changes: add a user or a service, disable one, give a user a new password, change a
// role. Who may
// is the API's rule (`domainAdmin`, decided by the policy): an admin of the domain; a member sees the
// list read-only and its forms are refused. Each change is the principal service's, in the host's
// domain, so another domain's principal id is not found there, exactly like an unknown one.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BulkheadError } from '../../../errors.js';
import type { PrincipalView } from '../../../identity/principals.js';
import { domainAdmin } from '../../../policy/policy.js';
import type { Actor } from '../../../policy/principal.js';
import type { App } from '../../types.js';
import { allows, outcomePage, personActor, type Outcome, type Person, type PortalDeps } from './context.js';
import { adminForm } from './pages.js';

export async function membersPage(
  deps: PortalDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  person: Person,
  extras: Outcome & { secret?: { clientId: string; clientSecret: string } } = {},
) {
  return outcomePage(deps, request, reply, person, 'members', 'Members', extras, {
    items: await deps.services.principals.list(person.domainId),
    admin: allows(person, domainAdmin),
    me: person.subject,
    secret: extras.secret ?? null,
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

/** `change`'s outcome, or the outcome of a refusal the person can fix. */
async function orFixable<T extends Outcome>(change: () => Promise<T>): Promise<T | Outcome> {
  try {
    return await change();
  } catch (error) {
    if (!fixable(error)) throw error;
    return { status: error.status, message: error.message, failed: true };
  }
}

/** A form about one member: its id in the path, the form token in the body. */
type MemberForm = FastifyRequest<{ Params: Static<typeof PrincipalParams>; Body: Static<typeof CsrfBody> }>;

/** A member as a message names it. */
const nameOf = (p: PrincipalView) => p.email ?? p.clientId ?? p.id;

export function memberRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;

  /**
   * An admin's change to one member of the domain, by its id in the path: `change` acts as the admin and
   * says what it did, and the members page shows that.
   */
  async function memberChange(
    request: MemberForm,
    reply: FastifyReply,
    change: (actor: Actor, domainId: string, principalId: string) => Promise<Outcome>,
  ) {
    const person = await adminForm(deps, request, reply, request.body.csrf);
    if (person === null) return reply;
    const id = request.params.principalId;
    if (!principalId.test(id)) throw new BulkheadError('not_found');
    const outcome = await change(personActor(person, request), person.domainId, id);
    return membersPage(deps, request, reply, person, outcome);
  }

  app.post('/members', { schema: { hide: true, body: AddBody } }, async (request, reply) => {
    const person = await adminForm(deps, request, reply, request.body.csrf);
    if (person === null) return reply;
    const body = request.body;
    const actor = personActor(person, request);
    const outcome = await orFixable(async () => {
      if (body.kind === 'user') {
        const created = await services.principals.create(actor, person.domainId, {
          kind: 'user',
          email: body.email ?? '',
          password: body.password ?? '',
          role: body.role,
        });
        return { message: `Added ${created.email ?? created.id}.` };
      }
      const created = await services.principals.create(actor, person.domainId, {
        kind: 'service',
        role: body.role,
      });
      return {
        message: 'Added the service.',
        secret: { clientId: created.clientId ?? '', clientSecret: created.clientSecret ?? '' },
      };
    });
    return membersPage(deps, request, reply, person, outcome);
  });

  app.post(
    '/members/:principalId/disable',
    { schema: { hide: true, params: PrincipalParams, body: CsrfBody } },
    (request, reply) =>
      memberChange(request, reply, async (actor, domainId, id) => {
        const done = await services.principals.setStatus(actor, domainId, id, 'disabled');
        return { message: `Disabled ${nameOf(done)}; its sessions are ended.` };
      }),
  );

  app.post(
    '/members/:principalId/role',
    { schema: { hide: true, params: PrincipalParams, body: RoleBody } },
    (request, reply) =>
      memberChange(request, reply, async (actor, domainId, id) => {
        const done = await services.principals.setRole(actor, domainId, id, request.body.role);
        // The same role again changes nothing, so the message says what holds, not what happened.
        return {
          message: `${nameOf(done)} is ${done.role === 'admin' ? 'an admin' : 'a member'}; a change of role ends its sessions.`,
        };
      }),
  );

  app.post(
    '/members/:principalId/password',
    { schema: { hide: true, params: PrincipalParams, body: PasswordBody } },
    (request, reply) =>
      memberChange(request, reply, (actor, domainId, id) =>
        orFixable(async () => {
          const done = await services.principals.setPassword(actor, domainId, id, request.body.password);
          return { message: `Set a new password for ${done.email ?? done.id}; its sessions are ended.` };
        }),
      ),
  );
}
