import { publicAccess } from '../../../policy/policy.js';
import { DomainParams, Jwks } from '../../schemas.js';
import type { RouteModule } from '../../types.js';

export const jwks: RouteModule = (app, { signingKeys }) => {
  app.get(
    '/v1/domains/:domainId/jwks.json',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'getDomainJwks',
        summary: "A domain's token-signing public keys",
        description:
          'The current key, the next key (published before it signs anything) and retired keys until every token ' +
          'they signed has expired. Only this domain’s keys: a token of another domain can never verify here. ' +
          'Unknown, suspended and deleted domains are 404.',
        params: DomainParams,
        response: { 200: Jwks },
      },
    },
    async (request, reply) => {
      const body = await signingKeys.jwks(request.params.domainId);
      return reply.header('cache-control', 'public, max-age=60').send(body);
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'getJwks',
        summary: "Every active domain's token-signing public keys",
        description:
          'For verifiers that serve many domains; each key verifies tokens of its own domain only.',
        response: { 200: Jwks },
      },
    },
    async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=60').send(await signingKeys.allJwks()),
  );
};
