// Stripe's webhook. Public: what authenticates it is the signature over the raw body, which is why this
// route sits in a scope of its own whose JSON parser hands over the bytes as they came.
import { Type } from '@sinclair/typebox';
import { publicAccess } from '../../../policy/policy.js';
import type { App } from '../../types.js';
import type { Services } from '../../../runtime.js';
import { WebhookReceipt } from './schemas.js';

/** The largest webhook body taken: Stripe's events are a few kilobytes. */
const webhookBodyLimit = 256 * 1024;

export function webhookRoutes(app: App, { payments }: Services): void {
  void app.register((scope: App, _opts, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, next) =>
      next(null, body),
    );
    scope.post(
      '/v1/billing/stripe/webhook',
      {
        config: { access: publicAccess },
        bodyLimit: webhookBodyLimit,
        schema: {
          operationId: 'stripeWebhook',
          summary: "Stripe's webhook",
          description:
            'Accepted only with a valid `Stripe-Signature` at most 5 minutes old (400 `invalid_signature`), ' +
            'once per event id. Changes only the invoice of the domain whose customer the event names, ' +
            'and only for a PaymentIntent that domain recorded for it.',
          headers: Type.Object({ 'stripe-signature': Type.Optional(Type.String({ maxLength: 2048 })) }),
          response: { 200: WebhookReceipt },
        },
      },
      async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        return payments.webhook(raw, request.headers['stripe-signature'], String(request.id));
      },
    );
    done();
  });
}
