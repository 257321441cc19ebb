// Closing a billing period, for every domain or for one: the operator's. Each domain's invoice is written
// in its own transaction.
import { operatorInDomain, operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { Type } from '@sinclair/typebox';
import { CloseResult, PeriodParams, periodParam } from './schemas.js';

export const periodRoutes: RouteModule = (app, { billing }) => {
  app.post(
    '/v1/billing/periods/:period/close',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'closePeriod',
        summary: 'Close a billing period',
        description:
          'Writes an invoice for every domain that existed during the month, lines per meter. Closing ' +
          'again writes only what is missing. A month that has not ended is 409 `period_open`.',
        params: PeriodParams,
        response: { 200: CloseResult },
      },
    },
    async (request) => billing.closePeriod(actorOf(request), request.params.period),
  );

  app.post(
    '/v1/domains/:domainId/billing/periods/:period/close',
    {
      config: { access: operatorInDomain },
      schema: {
        operationId: 'closeDomainPeriod',
        summary: 'Close a billing period for one domain',
        description:
          "Writes the domain's invoice for the month (with no line if it used nothing), as the period's " +
          'close would, whether or not the domain existed then; again, it writes nothing.',
        params: Type.Object(
          { domainId: DomainIdParam, period: periodParam },
          { additionalProperties: false },
        ),
        response: { 200: CloseResult },
      },
    },
    async (request) => billing.closeDomainPeriod(actorOf(request), scopeOf(request), request.params.period),
  );
};
