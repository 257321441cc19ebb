import { Type } from '@sinclair/typebox';
import { notFound } from '../../../errors.js';
import { domainAdmin } from '../../../policy/policy.js';
import { DomainIdParam } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const revokeSession: RouteModule = (app, { tokens }) => {
  app.delete(
    '/v1/domains/:domainId/sessions/:sessionId',
    {
      config: { access: domainAdmin },
      schema: {
        operationId: 'revokeSession',
        summary: 'Revoke a session',
        description: 'Every access and refresh token of the session is refused from the next request on.',
        params: Type.Object(
          { domainId: DomainIdParam, sessionId: Type.String({ pattern: '^ses_[0-9a-hjkmnp-tv-z]{26}$' }) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const { sessionId } = request.params;
      const domainId = scopeOf(request);
      if (
        !(await tokens.revokeSession(
          actorOf(request),
          sessionId,
          request.principal?.kind === 'operator'
            ? 'revoked by the operator'
            : 'revoked by an admin of the domain',
          domainId,
        ))
      )
        throw notFound();
      return reply.code(204).send(null);
    },
  );
};
