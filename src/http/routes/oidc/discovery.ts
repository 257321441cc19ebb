import type { FastifyReply, FastifyRequest } from 'fastify';
import { providerMetadata } from '../../../identity/oidc/metadata.js';
import { publicAccess } from '../../../policy/policy.js';
import { Jwks } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { issuerAt, issuerRoutes } from './issuer.js';
import { IssuerParams, ProviderMetadata } from './schemas.js';

// Public documents: any origin may read them (no credentials), and caches may keep them a minute.
const publicDocument = { 'cache-control': 'public, max-age=60', 'access-control-allow-origin': '*' };

export const discovery: RouteModule = (app, services) => {
  const schemaOf = (summary: string) => ({
    tags: ['oidc'],
    summary,
    description:
      'What this domain’s OpenID Provider supports, exactly (docs/identity.md, "OpenID Provider"). ' +
      'Unknown, suspended and deleted domains, and every domain on a server without BULKHEAD_PUBLIC_URL, are 404.',
    response: { 200: ProviderMetadata },
  });
  const answer = async (request: FastifyRequest, reply: FastifyReply) =>
    reply.headers(publicDocument).send(providerMetadata((await issuerAt(services, request)).issuer));

  for (const at of issuerRoutes('/.well-known/openid-configuration', 'getOpenIdConfiguration'))
    app.get(
      at.url,
      {
        config: { access: publicAccess },
        schema: { ...at.schema, ...schemaOf('OpenID Connect Discovery of a domain') },
      },
      answer,
    );
  for (const at of issuerRoutes('/.well-known/oauth-authorization-server', 'getAuthorizationServerMetadata'))
    app.get(
      at.url,
      {
        config: { access: publicAccess },
        schema: { ...at.schema, ...schemaOf('RFC 8414 metadata of a domain') },
      },
      answer,
    );
  // RFC 8414 §3.1 inserts the well-known path between the host and the issuer's path (for the issuer of a
  // portal host, which has no path, that is the route above).
  app.get(
    '/.well-known/oauth-authorization-server/d/:slug',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'getAuthorizationServerMetadataInserted',
        params: IssuerParams,
        ...schemaOf('RFC 8414 metadata of a domain, at the well-known path inserted before the issuer path'),
      },
    },
    answer,
  );
  for (const at of issuerRoutes('/jwks.json', 'getIssuerJwks'))
    app.get(
      at.url,
      {
        config: { access: publicAccess },
        schema: {
          ...at.schema,
          tags: ['oidc'],
          summary: 'The signing keys of a domain, at its issuer (its jwks_uri)',
          description: 'The same keys as /v1/domains/{domainId}/jwks.json, named by the issuer path.',
          response: { 200: Jwks },
        },
      },
      async (request, reply) => {
        const { domainId } = await issuerAt(services, request);
        return reply.headers(publicDocument).send(await services.signingKeys.jwks(domainId));
      },
    );
};
