import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainParams } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const suspendDomain: RouteModule = (app, { domains }) => {
  app.post(
    '/v1/domains/:domainId/suspend',
    {
      config: { access: operatorOnly, current: (request) => domains.get(scopeOf(request)) },
      schema: {
        operationId: 'suspendDomain',
        summary: 'Suspend a domain',
        description:
          'Its keys are refused until it is resumed. `reason=billing` suspends it for non-payment: paying ' +
          'its last unpaid invoice resumes it; any other reason (default `operator`) only the operator lifts. ' +
          'Suspending a suspended domain for the same reason changes nothing.',
        params: DomainParams,
        querystring: Type.Object(
          {
            reason: Type.Optional(
              Type.String({
                pattern: '^[a-z][a-z0-9_-]{0,31}$',
                description: '`billing`, or a word of your own.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Domain },
      },
    },
    async (request) => domains.suspend(actorOf(request), scopeOf(request), request.query.reason),
  );
};
