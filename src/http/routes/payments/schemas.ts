// The payments feature's schemas: Stripe's ids as Bulkhead answers them, and nothing of a card but its
// brand, last four digits and expiry.
import { Type } from '@sinclair/typebox';
import { idSchemaPattern } from '../../../domain/ids.js';
import { DomainPathParam, Nullable } from '../../schemas.js';

export const PaymentMethodParams = Type.Object(
  {
    domainId: DomainPathParam,
    paymentMethodId: Type.String({
      pattern: '^pm_[0-9A-Za-z]{1,250}$',
      description: 'A Stripe payment method id, `pm_…`.',
    }),
  },
  { additionalProperties: false },
);

export const ChargeParams = Type.Object(
  {
    domainId: DomainPathParam,
    invoiceId: Type.String({ pattern: idSchemaPattern('invoice'), description: 'An invoice id, `inv_…`.' }),
  },
  { additionalProperties: false },
);

export const SetupIntent = Type.Object({
  id: Type.String({ description: 'The SetupIntent, `seti_…`.' }),
  clientSecret: Type.String({
    description:
      "For Stripe.js in the domain's page: confirming it attaches a card to the domain's customer.",
  }),
});

export const PaymentMethod = Type.Object({
  id: Type.String({ description: '`pm_…`' }),
  type: Type.String({ description: '`card`, …' }),
  brand: Nullable(Type.String()),
  last4: Nullable(Type.String()),
  expMonth: Nullable(Type.Integer()),
  expYear: Nullable(Type.Integer()),
});

export const Charge = Type.Object({
  invoiceId: Type.String(),
  attempt: Type.Integer({ description: 'The attempt, from 1; a new one after a failed attempt.' }),
  paymentIntentId: Nullable(Type.String({ description: 'The PaymentIntent, `pi_…`.' })),
  status: Type.Union(
    ['pending', 'processing', 'succeeded', 'failed'].map((s) => Type.Literal(s)),
    { description: "The attempt's status; `succeeded` marks the invoice paid." },
  ),
  invoiceStatus: Type.String(),
});

export const WebhookReceipt = Type.Object({
  received: Type.Literal(true),
  handled: Type.Boolean({
    description:
      'Whether the event changed anything (a replay or an event about no invoice changes nothing).',
  }),
});
