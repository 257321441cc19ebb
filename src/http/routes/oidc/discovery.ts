import { providerMetadata } from '../../../identity/oidc/metadata.js';
import { publicAccess } from '../../../policy/policy.js';
import { Jwks } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { issuerOf } from './issuer.js';
import { IssuerParams, ProviderMetadata } from './schemas.js';

// Public documents: any origin may read them (no credentials), and caches may keep them a minute.
const publicDocument = { 'cache-control': 'public, max-age=60', 'access-control-allow-origin': '*' };

export const discovery: RouteModule = (app, services) => {
  const schemaOf = (operationId: string, summary: string) => ({
    operationId,
    tags: ['oidc'],
    summary,
    description:
      'What this domain’s OpenID Provider supports, exactly (docs/identity.md, "OpenID Provider"). ' +
      'Unknown, suspended and deleted domains, and every domain on a server without BULKHEAD_PUBLIC_URL, are 404.',
    params: IssuerParams,
    response: { 200: ProviderMetadata },
  });
  const answer = async (slug: string) => providerMetadata((await issuerOf(services, slug)).issuer);

  app.get(
    '/d/:slug/.well-known/openid-configuration',
    {
      config: { access: publicAccess },
      schema: schemaOf('getOpenIdConfiguration', 'OpenID Connect Discovery of a domain'),
    },
    async (request, reply) => reply.headers(publicDocument).send(await answer(request.params.slug)),
  );
  app.get(
    '/d/:slug/.well-known/oauth-authorization-server',
    {
      config: { access: publicAccess },
      schema: schemaOf('getAuthorizationServerMetadata', 'RFC 8414 metadata of a domain'),
    },
    async (request, reply) => reply.headers(publicDocument).send(await answer(request.params.slug)),
  );
  // RFC 8414 §3.1 inserts the well-known path between the host and the issuer's path.
  app.get(
    '/.well-known/oauth-authorization-server/d/:slug',
    {
      config: { access: publicAccess },
      schema: schemaOf(
        'getAuthorizationServerMetadataInserted',
        'RFC 8414 metadata of a domain, at the well-known path inserted before the issuer path',
      ),
    },
    async (request, reply) => reply.headers(publicDocument).send(await answer(request.params.slug)),
  );
  app.get(
    '/d/:slug/jwks.json',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'getIssuerJwks',
        tags: ['oidc'],
        summary: 'The signing keys of a domain, at its issuer (its jwks_uri)',
        description: 'The same keys as /v1/domains/{domainId}/jwks.json, named by the issuer path.',
        params: IssuerParams,
        response: { 200: Jwks },
      },
    },
    async (request, reply) => {
      const { domainId } = await issuerOf(services, request.params.slug);
      return reply.headers(publicDocument).send(await services.signingKeys.jwks(domainId));
    },
  );
};
