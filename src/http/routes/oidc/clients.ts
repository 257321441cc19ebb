import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { clientAuthMethods, clientGrantTypes } from '../../../identity/oidc/clients.js';
import { domainAdmin } from '../../../policy/policy.js';
import { DomainIdParam, DomainParams, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { Page, PageQuery, pageOf } from '../../paging.js';
import { actorOf, itemOf, paramOf, scopeOf } from '../actor.js';
import { itemRoutes } from '../item.js';

const ClientParams = Type.Object(
  { domainId: DomainIdParam, oauthClientId: Type.String({ pattern: '^ocl_[0-9a-hjkmnp-tv-z]{26}$' }) },
  { additionalProperties: false },
);

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

const Client = Type.Object({
  id: Type.String(),
  domainId: Type.String(),
  clientId: Type.String(),
  name: Type.String(),
  kind: Type.Union([Type.Literal('confidential'), Type.Literal('public')]),
  tokenEndpointAuthMethod: Type.String(),
  redirectUris: Type.Array(Type.String()),
  grantTypes: Type.Array(Type.String()),
  scopes: Type.Array(Type.String()),
  allowedOrigins: Type.Array(Type.String()),
  postLogoutRedirectUris: Type.Array(Type.String()),
  createdAt: Timestamp,
});

const NewClient = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    kind: Type.Union([Type.Literal('confidential'), Type.Literal('public')]),
    tokenEndpointAuthMethod: Type.Optional(literals(clientAuthMethods)),
    redirectUris: Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 10 }),
    grantTypes: Type.Array(literals(clientGrantTypes), { minItems: 1, maxItems: 3 }),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$' }), { maxItems: 20 }),
    ),
    allowedOrigins: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 10 }),
    ),
    postLogoutRedirectUris: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 10 }),
    ),
    jwks: Type.Optional(
      Type.Object(
        { keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 5 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const clientRoutes: RouteModule = (app, { oauthClients, cursorKey }) => {
  app.post(
    '/v1/domains/:domainId/oauth-clients',
    {
      config: { access: domainAdmin, idempotent: true },
      schema: {
        operationId: 'createOAuthClient',
        tags: ['oidc'],
        summary: 'Register an OAuth client of a domain',
        description:
          'Confidential (a `clientSecret`, shown this once, stored only hashed; `client_secret_basic` or ' +
          '`client_secret_post`) or public (`none`). Redirect URIs are absolute https URLs (http on a ' +
          'loopback host), without fragment, user or wildcard, and are later compared exactly; so are ' +
          '`postLogoutRedirectUris`, the only addresses end-session returns to. The operator ' +
          'or an admin of the domain; another domain is 404.',
        params: DomainParams,
        body: NewClient,
        response: {
          201: Type.Object({ ...Client.properties, clientSecret: Type.Optional(Type.String()) }),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await oauthClients.create(actorOf(request), scopeOf(request), request.body)),
  );

  app.get(
    '/v1/domains/:domainId/oauth-clients',
    {
      config: { access: domainAdmin },
      schema: {
        operationId: 'listOAuthClients',
        tags: ['oidc'],
        summary: "List a domain's OAuth clients",
        params: DomainParams,
        querystring: PageQuery,
        response: { 200: Page(Client) },
      },
    },
    async (request, reply) => pageOf(cursorKey, request, reply, await oauthClients.list(scopeOf(request))),
  );

  const currentClient = async (request: FastifyRequest) =>
    itemOf(await oauthClients.list(scopeOf(request)), paramOf(request, 'oauthClientId'));

  const client = itemRoutes(
    app,
    '/v1/domains/:domainId/oauth-clients/:oauthClientId',
    ClientParams,
    Client,
    currentClient,
  );
  client.show(domainAdmin, {
    operationId: 'getOAuthClient',
    tags: ['oidc'],
    summary: 'Show an OAuth client of a domain',
    description: 'Never its secret; with its `ETag`.',
  });

  app.delete(
    '/v1/domains/:domainId/oauth-clients/:oauthClientId',
    {
      config: { access: domainAdmin, current: currentClient },
      schema: {
        operationId: 'deleteOAuthClient',
        tags: ['oidc'],
        summary: 'Delete an OAuth client of a domain',
        params: ClientParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await oauthClients.delete(actorOf(request), scopeOf(request), request.params.oauthClientId);
      return reply.code(204).send(null);
    },
  );
};
