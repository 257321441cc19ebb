// Closing a billing period: the operator's. Each domain's invoice is written in its own transaction.
import { operatorOnly } from '../../../policy/policy.js';
import { bearer, errorResponses } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf } from '../actor.js';
import { CloseResult, PeriodParams } from './schemas.js';

export const periodRoutes: RouteModule = (app, { billing }) => {
  app.post(
    '/v1/billing/periods/:period/close',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'closePeriod',
        tags: ['billing'],
        summary: 'Close a billing period',
        description:
          'Writes an invoice for every domain that existed during the month, lines per meter. Closing ' +
          'again writes only what is missing. A month that has not ended is 409 `period_open`.',
        security: bearer,
        params: PeriodParams,
        response: { 200: CloseResult, ...errorResponses },
      },
    },
    async (request) => billing.closePeriod(actorOf(request), request.params.period),
  );
};
