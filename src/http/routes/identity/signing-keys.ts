import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainParams } from '../../schemas.js';
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
        summary: "A domain's signing keys and their states",
        params: DomainParams,
        response: { 200: Type.Object({ items: Type.Array(SigningKey) }) },
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
        summary: "Rotate a domain's signing key",
        description:
          'The next key (already published) starts signing, a new next key is published, and the old key stays ' +
          'published until every token it signed has expired.',
        params: DomainParams,
        response: { 200: Type.Object({ items: Type.Array(SigningKey) }) },
      },
    },
    async (request) => ({ items: await signingKeys.rotate(actorOf(request), scopeOf(request)) }),
  );
};
