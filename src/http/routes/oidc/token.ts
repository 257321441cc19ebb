import { BulkheadError } from '../../../errors.js';
import { oauthErrorResponses } from '../../oauth.js';
import type { RouteModule } from '../../types.js';
import type { Services } from '../../../runtime.js';
import type { OAuthClientRow } from '../../../store/schema.js';
import { authenticateClient, presentsClient, type PresentedClient } from './client-auth.js';
import { corsForClient, namedClientId } from './cors.js';
import { codesOf, issuerAt, issuerRoute } from './issuer.js';
import { TokenRequest, TokenResponse } from './schemas.js';

/**
 * The registered client exchanging a code: a confidential one authenticates as it registered; a public
 * one (`none`) names itself with client_id alone, and PKCE stands in for its secret.
 */
async function codeClient(
  services: Services,
  request: Parameters<typeof authenticateClient>[1],
  body: PresentedClient,
  domainId: string,
): Promise<OAuthClientRow> {
  if (presentsClient(request.headers.authorization, body)) {
    const authenticated = await authenticateClient(services, request, body, domainId);
    if (authenticated.kind !== 'registered')
      throw new BulkheadError('unauthorized_client', 'A service account has no authorization code grant.');
    return authenticated.client;
  }
  const client =
    body.client_id === undefined ? null : await services.oauthClients.find(domainId, body.client_id);
  if (client === null || client.auth_method !== 'none') throw new BulkheadError('invalid_client');
  return client;
}

/**
 * The registered client presenting a refresh token: the one that authenticated, or a public client
 * naming itself; null for a service account or no client. A refresh token issued to a registered client
 * is refreshed by that client only (TokenService.refresh).
 */
async function refreshClient(
  services: Services,
  request: Parameters<typeof authenticateClient>[1],
  body: PresentedClient,
  domainId: string,
): Promise<string | null> {
  if (presentsClient(request.headers.authorization, body)) {
    const authenticated = await authenticateClient(services, request, body, domainId);
    return authenticated.kind === 'registered' ? authenticated.client.client_id : null;
  }
  if (body.client_id === undefined) return null;
  const named = await services.oauthClients.find(domainId, body.client_id);
  return named !== null && named.auth_method === 'none' ? named.client_id : null;
}

export const issuerToken: RouteModule = (app, services) => {
  issuerRoute(
    app,
    'POST',
    '/token',
    {
      operationId: 'issuerToken',
      summary: 'The token endpoint of a domain’s OpenID Provider',
      description:
        '`client_credentials` for the domain’s service clients (client_secret_basic or client_secret_post), ' +
        'and `refresh_token` for a refresh token of this domain (a client that authenticates must be of ' +
        'this domain; a refresh token issued to a registered client is refreshed by that client only). A client, a refresh token or a grant of another domain is `invalid_client` or ' +
        '`invalid_grant` and changes nothing. Errors are RFC 6749 §5.2 JSON; unknown parameters are ignored.',
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: TokenRequest,
      response: { 200: TokenResponse, ...oauthErrorResponses },
    },
    async (request, reply) => {
      const { domainId, issuer } = await issuerAt(services, request);
      const body = request.body;
      const requestId = String(request.id);
      reply.header('pragma', 'no-cache');
      await corsForClient(services, request, reply, domainId, namedClientId(request, body));
      if (body.grant_type === 'client_credentials') {
        const authenticated = await authenticateClient(services, request, body, domainId);
        // The client-credentials grant is a service's: a registered client has no principal to act as.
        if (authenticated.kind !== 'service')
          throw new BulkheadError(
            'unauthorized_client',
            'Only the domain’s service accounts use the client_credentials grant here.',
          );
        const client = authenticated.principal;
        return services.tokens.issue(
          { actor: `principal:${client.id}`, requestId },
          client,
          client.client_id ?? client.id,
          { issuer },
        );
      }
      if (body.grant_type === 'authorization_code') {
        const client = await codeClient(services, request, body, domainId);
        if (!client.grant_types.includes('authorization_code'))
          throw new BulkheadError(
            'unauthorized_client',
            'This client may not use the authorization code grant.',
          );
        if (body.code === undefined) throw new BulkheadError('invalid_request', 'code is required.');
        return codesOf(services).redeem({
          requestId,
          domainId,
          issuer,
          client,
          code: body.code,
          redirectUri: body.redirect_uri,
          verifier: body.code_verifier,
        });
      }
      if (body.grant_type === 'refresh_token') {
        const presenter = await refreshClient(services, request, body, domainId);
        if (body.refresh_token === undefined)
          throw new BulkheadError('invalid_request', 'refresh_token is required.');
        return services.tokens.refresh(requestId, body.refresh_token, domainId, presenter, issuer);
      }
      throw new BulkheadError(
        'unsupported_grant_type',
        'This token endpoint takes grant_type authorization_code, client_credentials or refresh_token.',
      );
    },
  );
};
