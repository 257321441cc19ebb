// Closing a month charges each new invoice through Stripe (BULKHEAD_BILLING_AUTO_CHARGE), on both stores,
// against the local Stripe-shaped server (test/helpers/stripe-server.ts): once per invoice whatever the
// number of closes, a decline left open and audited, a domain without a payment customer left alone, a
// close interrupted before its charges finished by the next close, and an attempt Stripe answered but
// Bulkhead never recorded sent again with the same idempotency key (the same PaymentIntent).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { periodOf } from '../../src/billing/periods.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { asOwner, backends, openTestServices, testSecret } from '../helpers/backends.js';
import { startTestStripe, type TestStripe } from '../helpers/stripe-server.js';

const operatorToken = 'auto-charge-test-operator-token-0123456789abcdef';
const op = { authorization: `Bearer ${operatorToken}` };
const now = new Date();
const month = (back: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 10, 12));
const [p1, p2, p3] = [periodOf(month(4)), periodOf(month(3)), periodOf(month(2))] as const;

interface Invoice {
  id: string;
  period: string;
  status: string;
  total: number;
  paymentReference: string | null;
}

describe('BULKHEAD_BILLING_AUTO_CHARGE', () => {
  const stripe = {
    BULKHEAD_STRIPE_SECRET_KEY: 'sk_test_0123456789abcdefABCDEF',
    BULKHEAD_STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdefABCDEF',
  };
  it('is on or off, unset means on with Stripe, and on without Stripe stops the start', () => {
    expect(loadConfig(stripe).billingAutoCharge).toBeUndefined();
    expect(loadConfig({ ...stripe, BULKHEAD_BILLING_AUTO_CHARGE: 'off' }).billingAutoCharge).toBe('off');
    expect(loadConfig({ BULKHEAD_BILLING_AUTO_CHARGE: 'off' }).billingAutoCharge).toBe('off');
    expect(() => loadConfig({ ...stripe, BULKHEAD_BILLING_AUTO_CHARGE: 'yes' })).toThrow(
      new ConfigError('invalid configuration: BULKHEAD_BILLING_AUTO_CHARGE must be on or off'),
    );
    expect(() => loadConfig({ BULKHEAD_BILLING_AUTO_CHARGE: 'on' })).toThrow(ConfigError);
    expect(() => loadConfig({ BULKHEAD_BILLING_AUTO_CHARGE: 'on' })).toThrow(
      'BULKHEAD_BILLING_AUTO_CHARGE is on but BULKHEAD_STRIPE_SECRET_KEY is not set',
    );
  });
});

describe.each(backends)('charging when a month closes on $name', (backend) => {
  let stripe: TestStripe;
  let services: Services & { drop(): Promise<void> };
  /** A server on the same store that closes without charging: a close that stopped before its charges. */
  let closeOnly: Services;
  let app: App;
  const domains: Record<'a' | 'b' | 'c', { id: string; customer: string | null }> = {} as never;

  const call = (method: string, url: string, payload?: unknown) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: op,
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  const invoiceOf = async (domainId: string, period: string): Promise<Invoice> => {
    const res = await call('GET', `/v1/domains/${domainId}/invoices`);
    const invoice = res.json<{ items: Invoice[] }>().items.find((i) => i.period === period);
    expect(invoice, `${domainId} ${period}`).toBeDefined();
    return invoice!;
  };

  const intentRequests = (invoiceId?: string) =>
    stripe.requests.filter(
      (r) =>
        r.method === 'POST' &&
        r.path === '/v1/payment_intents' &&
        (invoiceId === undefined || r.params['metadata[bulkhead_invoice_id]'] === invoiceId),
    );

  const attemptsOf = (invoiceId: string) =>
    asOwner(services.store, (tx) =>
      tx
        .selectFrom('invoice_payments')
        .selectAll()
        .where('invoice_id', '=', invoiceId)
        .orderBy('attempt')
        .execute(),
    );

  const close = async (period: string) => {
    const res = await call('POST', `/v1/billing/periods/${period}/close`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ created: number; existing: number }>();
  };

  beforeAll(async () => {
    stripe = await startTestStripe();
    const settings = { secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiUrl: stripe.url };
    services = await openTestServices(backend, { stripe: settings, autoCharge: true });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    closeOnly = buildServices(services.store, testSecret, {
      providers: new Map(),
      slugQuarantineMs: 0,
      stripe: settings,
    });
    const book = await call('PUT', '/v1/billing/prices', {
      currency: 'EUR',
      meters: [{ meter: 'calls', unit: 'call', unitPrice: 5 }],
    });
    expect(book.statusCode, book.body).toBe(200);
    for (const [name, quantity] of [
      ['a', 100],
      ['b', 200],
      ['c', 300],
    ] as const) {
      const created = await call('POST', '/v1/domains', {
        slug: `ac-${name}-${backend.name}-${process.pid}`,
        name,
      });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json<{ id: string }>().id;
      for (const [i, back] of [4, 3, 2].entries()) {
        const used = await call('POST', `/v1/domains/${id}/usage`, {
          meter: 'calls',
          quantity: quantity + i,
          eventId: `ac-${i}`,
          at: month(back).toISOString(),
        });
        expect(used.statusCode, used.body).toBe(201);
      }
      let customer: string | null = null;
      // A and B set up billing and attach a card; C never does.
      if (name !== 'c') {
        const setup = await call('POST', `/v1/domains/${id}/billing/setup-intents`);
        expect(setup.statusCode, setup.body).toBe(201);
        customer = await asOwner(
          services.store,
          async (tx) =>
            (
              await tx
                .selectFrom('stripe_customers')
                .select('customer_id')
                .where('domain_id', '=', id)
                .executeTakeFirstOrThrow()
            ).customer_id,
        );
        stripe.attachCard(customer);
      }
      domains[name] = { id, customer };
    }
    // B's card is declined, every time.
    stripe.declineFor.set(domains.b.customer!, 'insufficient_funds');
    stripe.intentStatus = 'succeeded';
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    await stripe.close();
  });

  it('charges each new invoice once, leaves a declined one open and audited, and one without a card alone', async () => {
    expect(await close(p1)).toEqual({ period: p1, created: 3, existing: 0 });
    const a = await invoiceOf(domains.a.id, p1);
    const b = await invoiceOf(domains.b.id, p1);
    const c = await invoiceOf(domains.c.id, p1);
    // A's invoice is charged with its own key, amount and customer, and paid.
    expect(intentRequests(a.id)).toHaveLength(1);
    expect(intentRequests(a.id)[0]).toMatchObject({
      idempotencyKey: a.id,
      params: {
        amount: String(a.total),
        currency: 'eur',
        customer: domains.a.customer,
        off_session: 'true',
        confirm: 'true',
        'metadata[bulkhead_domain_id]': domains.a.id,
      },
    });
    expect(a).toMatchObject({ status: 'paid' });
    expect(a.paymentReference).toMatch(/^pi_/);
    // B's was declined: still open, the attempt recorded failed with Stripe's code, and audited.
    expect(intentRequests(b.id)).toHaveLength(1);
    expect(b.status).toBe('open');
    expect((await attemptsOf(b.id)).map((p) => [p.attempt, p.status, p.failure_code])).toEqual([
      [1, 'failed', 'insufficient_funds'],
    ]);
    const audited = await services.store.system('audit', (tx) =>
      listAudit(tx, { domainId: domains.b.id, action: 'payment.charge', limit: 10 }),
    );
    expect(audited).toMatchObject([{ target: b.id, outcome: 'failure', actor: 'operator' }]);
    // C set up no payment: nothing was asked of Stripe for it.
    expect(c.status).toBe('open');
    expect(await attemptsOf(c.id)).toEqual([]);
    expect(stripe.requests.some((r) => JSON.stringify(r.params).includes(domains.c.id))).toBe(false);

    // Closing again charges nothing again: not the paid one, not the declined one.
    const sent = intentRequests().length;
    expect(await close(p1)).toEqual({ period: p1, created: 0, existing: 3 });
    expect(intentRequests()).toHaveLength(sent);
    expect((await invoiceOf(domains.b.id, p1)).status).toBe('open');
  });

  it('charges on the next close what a close left uncharged, Stripe down or the process gone', async () => {
    // A close that stopped after writing the invoices and before charging them.
    await closeOnly.billing.closePeriod({ actor: 'operator', requestId: null }, p2);
    const a = await invoiceOf(domains.a.id, p2);
    expect(a.status).toBe('open');
    expect(intentRequests(a.id)).toEqual([]);
    // The next close runs while Stripe cannot be reached: the attempt is recorded and stays pending.
    stripe.down = true;
    try {
      expect(await close(p2)).toMatchObject({ created: 0, existing: 3 });
    } finally {
      stripe.down = false;
    }
    expect((await attemptsOf(a.id)).map((p) => [p.attempt, p.status, p.idempotency_key])).toEqual([
      [1, 'pending', a.id],
    ]);
    expect((await invoiceOf(domains.a.id, p2)).status).toBe('open');
    // The one after that sends the pending attempt, once, with the invoice's key.
    await close(p2);
    expect((await invoiceOf(domains.a.id, p2)).status).toBe('paid');
    expect(new Set(intentRequests(a.id).map((r) => r.idempotencyKey))).toEqual(new Set([a.id]));
    expect((await attemptsOf(a.id)).map((p) => [p.attempt, p.status])).toEqual([[1, 'succeeded']]);
    const created = [...stripe.paymentIntents.values()].filter(
      (pi) => (pi['metadata'] as Record<string, string>)['bulkhead_invoice_id'] === a.id,
    );
    expect(created).toHaveLength(1);
  });

  it('sends an attempt Stripe answered but Bulkhead never recorded with the same key: one PaymentIntent', async () => {
    expect(await close(p3)).toMatchObject({ created: 3 });
    const a = await invoiceOf(domains.a.id, p3);
    expect(a.status).toBe('paid');
    const paidWith = a.paymentReference;
    // As if the process died after Stripe made the PaymentIntent and before the answer was stored.
    await asOwner(services.store, async (tx) => {
      await tx
        .updateTable('invoice_payments')
        .set({ status: 'pending', payment_intent_id: null })
        .where('invoice_id', '=', a.id)
        .execute();
      await tx
        .updateTable('invoices')
        .set({ status: 'open', payment_reference: null, status_changed_at: null })
        .where('id', '=', a.id)
        .execute();
    });
    await close(p3);
    const again = await invoiceOf(domains.a.id, p3);
    expect(again).toMatchObject({ status: 'paid', paymentReference: paidWith });
    expect(intentRequests(a.id).map((r) => r.idempotencyKey)).toEqual([a.id, a.id]);
    const created = [...stripe.paymentIntents.values()].filter(
      (pi) => (pi['metadata'] as Record<string, string>)['bulkhead_invoice_id'] === a.id,
    );
    expect(created).toHaveLength(1);
  });
});
