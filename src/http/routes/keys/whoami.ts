import { Type } from '@sinclair/typebox';
import { anyCredential } from '../../../policy/policy.js';
import { bearer, errorResponses } from '../../schemas.js';
import type { RouteModule } from '../../types.js';

export const whoami: RouteModule = (app) => {
  app.get(
    '/v1/whoami',
    {
      config: { access: anyCredential },
      schema: {
        operationId: 'whoami',
        tags: ['keys'],
        summary: 'Who the credential is',
        description:
          'For a provisioning key: its domain and key id. Revoked, expired, unknown or mistyped keys, and keys ' +
          'of suspended or deleted domains, all get the same 401.',
        security: bearer,
        response: {
          200: Type.Object({
            credential: Type.Union([Type.Literal('operator'), Type.Literal('provisioning_key')]),
            domainId: Type.Union([Type.String(), Type.Null()]),
            slug: Type.Union([Type.String(), Type.Null()]),
            keyId: Type.Union([Type.String(), Type.Null()]),
            scopes: Type.Array(Type.String()),
          }),
          ...errorResponses,
        },
      },
    },
    (request) => {
      const p = request.principal!;
      return p.kind === 'operator'
        ? { credential: p.kind, domainId: null, slug: null, keyId: null, scopes: [] }
        : {
            credential: p.kind,
            domainId: p.domainId,
            slug: p.domainSlug,
            keyId: p.keyId,
            scopes: [...p.scopes],
          };
    },
  );
};
