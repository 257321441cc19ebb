import { Type } from '@sinclair/typebox';
import { oauthErrorResponses } from '../../oauth.js';
import type { RouteModule } from '../../types.js';
import { authenticateClient, presentsClient } from './client-auth.js';
import { issuerAt, issuerRoute } from './issuer.js';
import { TokenPresented } from './schemas.js';

export const issuerRevoke: RouteModule = (app, services) => {
  issuerRoute(
    app,
    'POST',
    '/revoke',
    {
      operationId: 'issuerRevoke',
      summary: 'The revocation endpoint of a domain’s OpenID Provider (RFC 7009)',
      description:
        'Revokes the session behind a refresh or access token of this domain. A client that presents ' +
        'credentials (client_secret_basic or client_secret_post) must be one of this domain’s, else ' +
        '`invalid_client`; without credentials, holding the token is the right to end it. A token that is ' +
        'unknown or of another domain is answered 200 like any other and nothing changes.',
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenPresented,
      response: { 200: Type.Object({}), ...oauthErrorResponses },
    },
    async (request) => {
      const { domainId } = await issuerAt(services, request);
      if (presentsClient(request.headers.authorization, request.body))
        await authenticateClient(services, request, request.body, domainId);
      await services.tokens.revoke(String(request.id), request.body.token, domainId);
      return {};
    },
  );
};
