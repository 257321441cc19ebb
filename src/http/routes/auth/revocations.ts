import { Type } from '@sinclair/typebox';
import { timestampOf } from '../../../domain/timestamp.js';
import { domainRevocationsSince, revocationsSince } from '../../../identity/revocations.js';
import { revocationReader } from '../../../policy/policy.js';
import { inDomain } from '../../../policy/principal.js';
import { Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';

export const revocations: RouteModule = (app, { store }) => {
  app.get(
    '/v1/revocations',
    {
      config: { access: revocationReader },
      schema: {
        operationId: 'listRevocations',
        summary: 'Revocations since a time (the catch-up read of the revocation feed)',
        description:
          'Sessions, principals and domains whose tokens must be refused (and domains restored), oldest first. ' +
          'Verifiers read this after (re)connecting to the feed, from a little before their last event. ' +
          "A domain's provisioning key or access token reads that domain's revocations only; the operator " +
          'token and the feed token (`BULKHEAD_FEED_TOKEN`, for a verifier that serves every domain) read ' +
          "every domain's. Without a credential: 401.",
        querystring: Type.Object({ since: Timestamp }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                seq: Type.Integer(),
                kind: Type.String(),
                target: Type.String(),
                domainId: Type.String(),
                at: Timestamp,
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const oldest = Date.now() - 7 * 86_400_000;
      const since = new Date(Math.max(timestampOf(request.query.since).getTime(), oldest));
      const principal = request.principal!;
      // The credential says whose revocations: its own domain's, read in that domain's scope.
      if (inDomain(principal)) {
        const { domainId } = principal;
        return {
          items: await store.withDomain(domainId, (tx) => domainRevocationsSince(tx, domainId, since)),
        };
      }
      return { items: await store.system('revocations', (tx) => revocationsSince(tx, since)) };
    },
  );
};
