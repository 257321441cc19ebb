import { oauthErrorResponses } from '../../oauth.js';
import type { RouteModule } from '../../types.js';
import { authenticateClient } from './client-auth.js';
import { issuerAt, issuerRoute } from './issuer.js';
import { Introspection, TokenPresented } from './schemas.js';

export const issuerIntrospect: RouteModule = (app, services) => {
  issuerRoute(
    app,
    'POST',
    '/introspect',
    {
      operationId: 'issuerIntrospect',
      summary: 'The introspection endpoint of a domain’s OpenID Provider (RFC 7662)',
      description:
        'For resource servers that cannot verify JWTs: one of the domain’s clients (client_secret_basic ' +
        'or client_secret_post) asks about an access token and hears `active: true` with its claims only ' +
        'for a live token of this domain; a token of another domain, a revoked, expired or forged one and ' +
        'a refresh token are `{"active": false}`.',
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenPresented,
      response: { 200: Introspection, ...oauthErrorResponses },
    },
    async (request, reply) => {
      const { domainId } = await issuerAt(services, request);
      await authenticateClient(services, request, request.body, domainId);
      reply.header('pragma', 'no-cache');
      return (await services.tokens.introspect(request.body.token, domainId)) ?? { active: false };
    },
  );
};
