import { Type } from '@sinclair/typebox';
import { timestampOf } from '../../../domain/timestamp.js';
import { revocationsSince } from '../../../identity/revocations.js';
import { publicAccess } from '../../../policy/policy.js';
import { errorResponses, Timestamp } from '../../schemas.js';
import type { RouteModule } from '../../types.js';

export const revocations: RouteModule = (app, { store }) => {
  app.get(
    '/v1/revocations',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'listRevocations',
        tags: ['auth'],
        summary: 'Revocations since a time (the catch-up read of the revocation feed)',
        description:
          'Sessions, principals and domains whose tokens must be refused (and domains restored), oldest first. ' +
          'Verifiers read this after (re)connecting to the feed, from a little before their last event.',
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
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const oldest = Date.now() - 7 * 86_400_000;
      const since = new Date(Math.max(timestampOf(request.query.since).getTime(), oldest));
      return { items: await store.system('revocations', (tx) => revocationsSince(tx, since)) };
    },
  );
};
