// A SetupIntent for the domain's own Stripe customer (made the first time): its client secret lets the
// domain's page attach a card with Stripe.js. The operator, or a key of the domain scoped `payments:write`.
import { domainBilling } from '../../../policy/policy.js';
import { TenantDomainParams } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { SetupIntent } from './schemas.js';

export const setupIntentRoutes: RouteModule = (app, { payments }) => {
  app.post(
    '/v1/domains/:domainId/billing/setup-intents',
    {
      config: { access: domainBilling('payments', 'write'), idempotent: true },
      schema: {
        operationId: 'createSetupIntent',
        summary: 'Start attaching a payment method',
        description:
          "Makes the domain's Stripe customer if it has none (once, whatever the retries), then a " +
          'SetupIntent for it; its `clientSecret` goes to Stripe.js. 409 `payments_not_configured` without Stripe.',
        params: TenantDomainParams,
        response: { 201: SetupIntent },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await payments.setupIntent(actorOf(request), scopeOf(request))),
  );
};
