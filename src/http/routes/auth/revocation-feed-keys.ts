// The public keys of the revocation feed. A verifier takes a feed message only when it is signed by one
// of these, fetched over HTTP from Bulkhead itself, so publishing on the feed's Redis channel gives no
// power to make a verifier believe anything.
import { publicAccess } from '../../../policy/policy.js';
import { Jwks } from '../../schemas.js';
import type { RouteModule } from '../../types.js';

export const revocationFeedKeys: RouteModule = (app, { feedKeys }) => {
  app.get(
    '/v1/revocations/jwks.json',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'getRevocationFeedJwks',
        summary: 'The public keys that sign the revocation feed',
        description:
          'Each message on the Redis revocation channel is a compact JWS (EdDSA, `typ: bulkhead-revocation+jws`) ' +
          'signed with one of these keys: the previous, current and next version, so a rotation is published ' +
          'before it signs. These keys verify feed messages only, never access tokens.',
        response: { 200: Jwks },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'public, max-age=60').send(feedKeys.jwks()),
  );
};
