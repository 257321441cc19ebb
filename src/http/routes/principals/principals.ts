import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { domainAdmin } from '../../../policy/policy.js';
import { DomainIdParam, DomainParams, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { Page, PageQuery, pageOf } from '../../paging.js';
import { actorOf, itemOf, paramOf, scopeOf } from '../actor.js';

const PrincipalParams = Type.Object(
  { domainId: DomainIdParam, principalId: Type.String({ pattern: '^prn_[0-9a-hjkmnp-tv-z]{26}$' }) },
  { additionalProperties: false },
);

const Role = Type.Union([Type.Literal('member'), Type.Literal('admin')], {
  description: 'An admin manages the principals and sessions of its domain; a member does not.',
});

const Principal = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  kind: Type.Union([Type.Literal('user'), Type.Literal('service')]),
  email: Type.Union([Type.String(), Type.Null()]),
  clientId: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('deleted')]),
  role: Role,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const principalRoutes: RouteModule = (app, { principals, domains, cursorKey }) => {
  app.post(
    '/v1/domains/:domainId/principals',
    {
      config: { access: domainAdmin, idempotent: true },
      schema: {
        operationId: 'createPrincipal',
        summary: 'Create a user or a service account in a domain',
        description:
          'A user has an email and a password (at least 12 characters, stored as scrypt). A service gets a ' +
          '`clientId` and a `clientSecret`, shown this once. The same email in two domains is two principals.',
        params: DomainParams,
        body: Type.Union([
          Type.Object(
            {
              kind: Type.Literal('user'),
              email: Type.String({ format: 'email', maxLength: 320 }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
              role: Type.Optional(Role),
            },
            { additionalProperties: false },
          ),
          Type.Object(
            { kind: Type.Literal('service'), role: Type.Optional(Role) },
            { additionalProperties: false },
          ),
        ]),
        response: {
          201: Type.Object({ ...Principal.properties, clientSecret: Type.Optional(Type.String()) }),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await principals.create(actorOf(request), scopeOf(request), request.body)),
  );

  app.get(
    '/v1/domains/:domainId/principals',
    {
      config: { access: domainAdmin },
      schema: {
        operationId: 'listPrincipals',
        summary: "List a domain's principals",
        params: DomainParams,
        querystring: PageQuery,
        response: { 200: Page(Principal) },
      },
    },
    async (request, reply) => {
      await domains.get(scopeOf(request));
      return pageOf(cursorKey, request, reply, await principals.list(scopeOf(request)));
    },
  );

  const currentPrincipal = async (request: FastifyRequest) =>
    itemOf(await principals.list(scopeOf(request)), paramOf(request, 'principalId'));

  app.get(
    '/v1/domains/:domainId/principals/:principalId',
    {
      config: { access: domainAdmin, etag: true },
      schema: {
        operationId: 'getPrincipal',
        summary: 'Show a principal',
        description: 'With its `ETag`, for `If-Match` on a change of it.',
        params: PrincipalParams,
        response: { 200: Principal },
      },
    },
    currentPrincipal,
  );

  // Disabling and deleting a principal are one change, to one status or the other.
  const statusChanges = [
    {
      method: 'POST',
      url: '/v1/domains/:domainId/principals/:principalId/disable',
      status: 'disabled',
      operationId: 'disablePrincipal',
      summary: 'Disable a principal',
    },
    {
      method: 'DELETE',
      url: '/v1/domains/:domainId/principals/:principalId',
      status: 'deleted',
      operationId: 'deletePrincipal',
      summary: 'Delete a principal',
    },
  ] as const;
  for (const change of statusChanges)
    app.route({
      method: change.method,
      url: change.url,
      config: { access: domainAdmin, current: currentPrincipal },
      schema: {
        operationId: change.operationId,
        summary: change.summary,
        description: 'Its sessions are revoked: its access tokens are refused from the next request on.',
        params: PrincipalParams,
        response: { 200: Principal },
      },
      handler: async (request) =>
        principals.setStatus(actorOf(request), scopeOf(request), request.params.principalId, change.status),
    });

  app.post(
    '/v1/domains/:domainId/principals/:principalId/password',
    {
      config: { access: domainAdmin, current: currentPrincipal },
      schema: {
        operationId: 'setPrincipalPassword',
        summary: "Set a user's password",
        description:
          'At least 12 characters, stored as scrypt. Every session of the user is revoked: the old password, ' +
          'its access and refresh tokens and its browser sessions are refused from the next request on. A ' +
          'disabled user keeps its status; a service account is not found.',
        params: PrincipalParams,
        body: Type.Object(
          { password: Type.String({ minLength: 1, maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 200: Principal },
      },
    },
    async (request) =>
      principals.setPassword(
        actorOf(request),
        scopeOf(request),
        request.params.principalId,
        request.body.password,
      ),
  );

  app.put(
    '/v1/domains/:domainId/principals/:principalId/role',
    {
      config: { access: domainAdmin, current: currentPrincipal },
      schema: {
        operationId: 'setPrincipalRole',
        summary: "Change a principal's role",
        description:
          'A user or a service account. Every session of the principal is revoked, since its tokens carry ' +
          'the role: they are refused from the next request on, and its next login has the new role. The ' +
          'same role again changes nothing and revokes nothing.',
        params: PrincipalParams,
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: { 200: Principal },
      },
    },
    async (request) =>
      principals.setRole(actorOf(request), scopeOf(request), request.params.principalId, request.body.role),
  );
};
