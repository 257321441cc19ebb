// The payment methods of the domain's Stripe customer: listed by the operator or a key scoped
// `payments:read`, detached with `payments:write`. A payment method that is not this domain's customer's
// (another domain's, or none at all) answers 404 alike.
import { Type } from '@sinclair/typebox';
import { domainBilling } from '../../../policy/policy.js';
import { TenantDomainParams } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { PaymentMethod, PaymentMethodParams } from './schemas.js';

export const paymentMethodRoutes: RouteModule = (app, { payments }) => {
  app.get(
    '/v1/domains/:domainId/billing/payment-methods',
    {
      config: { access: domainBilling('payments', 'read') },
      schema: {
        operationId: 'listPaymentMethods',
        summary: "List the domain's payment methods",
        description: 'From Stripe: ids, brand, last four digits and expiry; none before billing was set up.',
        params: TenantDomainParams,
        response: { 200: Type.Object({ items: Type.Array(PaymentMethod) }) },
      },
    },
    async (request) => ({ items: await payments.paymentMethods(scopeOf(request)) }),
  );

  app.delete(
    '/v1/domains/:domainId/billing/payment-methods/:paymentMethodId',
    {
      config: { access: domainBilling('payments', 'write') },
      schema: {
        operationId: 'detachPaymentMethod',
        summary: 'Detach a payment method',
        description: "Only one of the domain's own customer: any other id is 404, as an unknown one.",
        params: PaymentMethodParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await payments.detachPaymentMethod(actorOf(request), scopeOf(request), request.params.paymentMethodId);
      return reply.code(204).send(null);
    },
  );
};
