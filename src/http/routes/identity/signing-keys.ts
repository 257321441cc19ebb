import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { bearer, DomainParams, errorResponses } from '../../schemas.js';
import { SigningKey } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const signingKeyRoutes: RouteModule = (app, { signingKeys, domains }) => {
  app.get(
    '/v1/domains/:domainId/signing-keys',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listSigningKeys',
        tags: ['identity'],
        summary: "A domain's signing keys and their states",
        security: bearer,
        params: DomainParams,
        response: { 200: Type.Object({ items: Type.Array(SigningKey) }), ...errorResponses },
      },
    },
    async (request) => {
      await domains.get(scopeOf(request));
      await signingKeys.ensure(scopeOf(request));
      return { items: await signingKeys.list(scopeOf(request)) };
    },
  );

  app.post(
    '/v1/domains/:domainId/signing-keys/rotate',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'rotateSigningKey',
        tags: ['identity'],
        summary: "Rotate a domain's signing key",
        description:
          'The next key (already published) starts signing, a new next key is published, and the old key stays ' +
          'published until every token it signed has expired.',
        security: bearer,
        params: DomainParams,
        response: { 200: Type.Object({ items: Type.Array(SigningKey) }), ...errorResponses },
      },
    },
    async (request) => ({ items: await signingKeys.rotate(actorOf(request), scopeOf(request)) }),
  );
};
