// Charging an unpaid invoice through Stripe: the operator's. The attempt is recorded with its PaymentIntent;
// a success marks the invoice paid (at once, or when Stripe's webhook says so).
import { operatorInDomain } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';
import { actorOf, paramOf, scopeOf } from '../actor.js';
import { Charge, ChargeParams } from './schemas.js';

export const chargeRoutes: RouteModule = (app, { payments, billing }) => {
  app.post(
    '/v1/domains/:domainId/invoices/:invoiceId/charge',
    {
      config: {
        access: operatorInDomain,
        current: (request) => billing.invoice(scopeOf(request), paramOf(request, 'invoiceId')),
      },
      schema: {
        operationId: 'chargeInvoice',
        summary: 'Charge an invoice through Stripe',
        description:
          "A PaymentIntent for the invoice's total, off session, with the customer's default payment " +
          'method; the idempotency key is the invoice id (and the attempt, after a failure). A decline is ' +
          '402 `payment_failed`; no payment method, 409 `payment_method_missing`.',
        params: ChargeParams,
        response: { 200: Charge },
      },
    },
    async (request) => payments.charge(actorOf(request), scopeOf(request), request.params.invoiceId),
  );
};
