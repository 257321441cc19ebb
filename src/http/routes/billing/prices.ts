// The price book: the operator's alone. It belongs to no domain; a domain's override is shown only here.
import { operatorOnly } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';
import { actorOf } from '../actor.js';
import { PriceBook, PriceBookInput } from './schemas.js';

export const priceRoutes: RouteModule = (app, { billing }) => {
  app.put(
    '/v1/billing/prices',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'setPrices',
        summary: 'Replace the price book',
        description:
          'Meters not named are removed. An override naming an unknown or deleted domain is 404. Invoices ' +
          'already closed keep the prices they were closed with.',
        body: PriceBookInput,
        response: { 200: PriceBook },
      },
    },
    async (request) => billing.setPrices(actorOf(request), request.body),
  );

  app.get(
    '/v1/billing/prices',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'getPrices',
        summary: 'Read the price book',
        response: { 200: PriceBook },
      },
    },
    async () => billing.prices(),
  );
};
