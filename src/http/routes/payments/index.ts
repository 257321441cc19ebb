// Payments through Stripe: a domain's payment methods, charging its invoices, and Stripe's webhook
// (docs/billing.md#payments-with-stripe). One encapsulated plugin: it inherits the root's authentication,
// policy and error handling (src/http/server.ts); the webhook's raw-body parser stays in its own scope.
import { feature } from '../../feature.js';
import { chargeRoutes } from './charge.js';
import { paymentMethodRoutes } from './payment-methods.js';
import { setupIntentRoutes } from './setup-intents.js';
import { webhookRoutes } from './webhook.js';

/** The routes of this feature, in the order they are registered, tagged `billing` in the OpenAPI document. */
export const paymentsPlugin = feature('billing', [
  setupIntentRoutes,
  paymentMethodRoutes,
  chargeRoutes,
  webhookRoutes,
]);
