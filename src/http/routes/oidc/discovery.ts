import type { FastifyReply, FastifyRequest } from 'fastify';
import { providerMetadata } from '../../../identity/oidc/metadata.js';
import { publicAccess } from '../../../policy/policy.js';
import { Jwks } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { issuerAt, issuerRoute } from './issuer.js';
import { IssuerParams, ProviderMetadata } from './schemas.js';

// Public documents: any origin may read them (no credentials), and caches may keep them a minute.
const publicDocument = { 'cache-control': 'public, max-age=60', 'access-control-allow-origin': '*' };

export const discovery: RouteModule = (app, services) => {
  const documentOf = (operationId: string, summary: string) => ({
    operationId,
    summary,
    description:
      'What this domain’s OpenID Provider supports, exactly (docs/identity.md, "OpenID Provider"). ' +
      'Unknown, suspended and deleted domains, and every domain on a server without BULKHEAD_PUBLIC_URL, are 404.',
    response: { 200: ProviderMetadata },
  });
  const answer = async (request: FastifyRequest, reply: FastifyReply) =>
    reply.headers(publicDocument).send(providerMetadata((await issuerAt(services, request)).issuer));

  issuerRoute(
    app,
    'GET',
    '/.well-known/openid-configuration',
    documentOf('getOpenIdConfiguration', 'OpenID Connect Discovery of a domain'),
    answer,
  );
  issuerRoute(
    app,
    'GET',
    '/.well-known/oauth-authorization-server',
    documentOf('getAuthorizationServerMetadata', 'RFC 8414 metadata of a domain'),
    answer,
  );
  // RFC 8414 §3.1 inserts the well-known path between the host and the issuer's path (for the issuer of a
  // portal host, which has no path, that is the route above).
  app.get(
    '/.well-known/oauth-authorization-server/d/:slug',
    {
      config: { access: publicAccess },
      schema: {
        ...documentOf(
          'getAuthorizationServerMetadataInserted',
          'RFC 8414 metadata of a domain, at the well-known path inserted before the issuer path',
        ),
        tags: ['oidc'],
        params: IssuerParams,
      },
    },
    answer,
  );
  issuerRoute(
    app,
    'GET',
    '/jwks.json',
    {
      operationId: 'getIssuerJwks',
      summary: 'The signing keys of a domain, at its issuer (its jwks_uri)',
      description: 'The same keys as /v1/domains/{domainId}/jwks.json, named by the issuer path.',
      response: { 200: Jwks },
    },
    async (request, reply) => {
      const { domainId } = await issuerAt(services, request);
      return reply.headers(publicDocument).send(await services.signingKeys.jwks(domainId));
    },
  );
};
