// Payments through Stripe end to end over the API, on both stores, with the official `stripe` library
// pointed at a local Stripe-shaped server (test/helpers/stripe-server.ts) that answers with Stripe's own
// published fixture objects and records what Bulkhead sends. It is not Stripe: what is shown here is
// what Bulkhead asks, what it stores, and what it does with the answers and with signed webhooks.
// Every attack asserts what must not happen: the domains' rows are exactly as they were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOf } from '../../src/billing/periods.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { listAudit } from '../../src/audit/log.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { asOwner, backends, openTestServices, testSecret } from '../helpers/backends.js';
import { startTestStripe, type TestStripe } from '../helpers/stripe-server.js';
import {
  comparable,
  createTenant,
  credentialHeaders,
  domainState,
  type CredentialName,
  type Tenant,
} from '../helpers/tenants.js';

const operatorToken = 'stripe-test-operator-token-0123456789abcdef';
const op = { authorization: `Bearer ${operatorToken}` };

const now = new Date();
const month = (back: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 10, 12));
const firstPeriod = periodOf(month(3));
const secondPeriod = periodOf(month(2));

interface Invoice {
  id: string;
  status: string;
  total: number;
  currency: string;
  paymentReference: string | null;
}

describe('Stripe configuration', () => {
  const key = 'sk_test_0123456789abcdefABCDEF';
  const secret = 'whsec_0123456789abcdefABCDEF';
  it('is off without a secret key, and refuses a partial or malformed one with the variable named', () => {
    expect(loadConfig({}).stripeSecretKey).toBeUndefined();
    const config = loadConfig({
      BULKHEAD_STRIPE_SECRET_KEY: key,
      BULKHEAD_STRIPE_WEBHOOK_SECRET: secret,
      BULKHEAD_STRIPE_API_URL: 'http://127.0.0.1:12111',
    });
    expect(config).toMatchObject({
      stripeSecretKey: key,
      stripeWebhookSecret: secret,
      stripeApiUrl: 'http://127.0.0.1:12111',
    });
    const refused: [Record<string, string>, string][] = [
      [{ BULKHEAD_STRIPE_SECRET_KEY: key }, 'BULKHEAD_STRIPE_WEBHOOK_SECRET is required'],
      [{ BULKHEAD_STRIPE_WEBHOOK_SECRET: secret }, 'BULKHEAD_STRIPE_WEBHOOK_SECRET is set but'],
      [{ BULKHEAD_STRIPE_API_URL: 'http://127.0.0.1:1' }, 'BULKHEAD_STRIPE_API_URL is set but'],
      [
        { BULKHEAD_STRIPE_SECRET_KEY: 'pk_test_0123456789abcdef', BULKHEAD_STRIPE_WEBHOOK_SECRET: secret },
        'BULKHEAD_STRIPE_SECRET_KEY must be a Stripe secret key',
      ],
      [
        { BULKHEAD_STRIPE_SECRET_KEY: key, BULKHEAD_STRIPE_WEBHOOK_SECRET: 'secret' },
        'BULKHEAD_STRIPE_WEBHOOK_SECRET must be',
      ],
      [
        {
          BULKHEAD_STRIPE_SECRET_KEY: key,
          BULKHEAD_STRIPE_WEBHOOK_SECRET: secret,
          BULKHEAD_STRIPE_API_URL: 'http://127.0.0.1:1/v1',
        },
        'BULKHEAD_STRIPE_API_URL must be',
      ],
      [
        {
          BULKHEAD_STRIPE_SECRET_KEY: key,
          BULKHEAD_STRIPE_WEBHOOK_SECRET: secret,
          BULKHEAD_STRIPE_API_URL: 'ftp://stripe.example',
        },
        'BULKHEAD_STRIPE_API_URL must be',
      ],
    ];
    for (const [env, message] of refused) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message);
    }
  });
});

describe.each(backends)('payments through Stripe on $name', (backend) => {
  let stripe: TestStripe;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  /** A second server on the same store, as a second process behind the same load balancer would be. */
  let second: { app: App; services: Services };
  let a: Tenant;
  let b: Tenant;
  const invoices = new Map<string, Invoice>();

  const send = (
    who: Tenant | 'operator',
    credential: CredentialName | 'operator',
    method: string,
    url: string,
    payload?: unknown,
    on: App = app,
  ) =>
    on.inject({
      method: method as 'GET',
      url,
      headers: who === 'operator' ? op : credentialHeaders(who, credential, operatorToken, method),
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  const withKey = async (tenant: Tenant, scopes: string[]): Promise<Tenant> => {
    const res = await send('operator', 'operator', 'POST', `/v1/domains/${tenant.id}/keys`, { scopes });
    expect(res.statusCode, res.body).toBe(201);
    return { ...tenant, key: res.json<{ key: string }>().key };
  };

  const customerOf = (domainId: string) =>
    asOwner(services.store, (tx) =>
      tx.selectFrom('stripe_customers').selectAll().where('domain_id', '=', domainId).execute(),
    );

  const invoiceOf = async (tenant: Tenant, period: string): Promise<Invoice> => {
    const res = await send('operator', 'operator', 'GET', `/v1/domains/${tenant.id}/invoices`);
    const item = res
      .json<{ items: (Invoice & { period: string })[] }>()
      .items.find((i) => i.period === period);
    expect(item, `${tenant.slug} ${period}`).toBeDefined();
    return item!;
  };

  const postWebhook = (hook: { body: string; signature?: string }) =>
    app.inject({
      method: 'POST',
      url: '/v1/billing/stripe/webhook',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        ...(hook.signature === undefined ? {} : { 'stripe-signature': hook.signature }),
      },
      payload: hook.body,
    });

  const ignoredEvents = () =>
    services.store.system('audit', (tx) => listAudit(tx, { action: 'payment.event_ignored', limit: 1000 }));

  /** Usage in both periods for a domain, so that each of its invoices has a total to charge. */
  const use = async (tenant: Tenant, quantity: number) => {
    for (const [i, at] of [month(3), month(2)].entries()) {
      const res = await send('operator', 'operator', 'POST', `/v1/domains/${tenant.id}/usage`, {
        meter: 'calls',
        quantity: quantity + i,
        eventId: `use-${i}`,
        at: at.toISOString(),
      });
      expect(res.statusCode, res.body).toBe(201);
    }
  };

  beforeAll(async () => {
    stripe = await startTestStripe();
    const settings = { secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiUrl: stripe.url };
    services = await openTestServices(backend, { stripe: settings });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    const secondServices = buildServices(services.store, testSecret, {
      providers: new Map(),
      slugQuarantineMs: 0,
      stripe: settings,
    });
    await secondServices.operator.initialise(operatorToken);
    second = { services: secondServices, app: await buildServer(secondServices) };
    a = await createTenant(app, operatorToken, `pay-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `pay-b-${backend.name}-${process.pid}`);
    a = await withKey(a, ['payments:read', 'payments:write', 'invoices:read']);
    b = await withKey(b, ['payments:read', 'payments:write', 'invoices:read']);
    const book = await send('operator', 'operator', 'PUT', '/v1/billing/prices', {
      currency: 'EUR',
      meters: [{ meter: 'calls', unit: 'call', unitPrice: 7 }],
    });
    expect(book.statusCode, book.body).toBe(200);
    await use(a, 100);
    await use(b, 200);
    for (const period of [firstPeriod, secondPeriod]) {
      const close = await send('operator', 'operator', 'POST', `/v1/billing/periods/${period}/close`);
      expect(close.statusCode, close.body).toBe(200);
    }
    for (const t of [a, b])
      for (const period of [firstPeriod, secondPeriod])
        invoices.set(`${t.id} ${period}`, await invoiceOf(t, period));
  });

  afterAll(async () => {
    await second.app.close();
    await app.close();
    await services.drop();
    await stripe.close();
  });

  it('makes one Stripe customer per domain, tagged with its id, whatever the retries and servers', async () => {
    // A's key cannot make B's customer: the unknown domain's 404, and nothing is sent to Stripe.
    const foreign = await send(a, 'key', 'POST', `/v1/domains/${b.id}/billing/setup-intents`);
    const unknown = await send(
      a,
      'key',
      'POST',
      '/v1/domains/dom_00000000000000000000000000/billing/setup-intents',
    );
    expect(foreign.statusCode).toBe(404);
    expect(comparable(foreign)).toEqual(comparable(unknown));
    const readOnly = await withKey(a, ['payments:read']);
    const refused = await send(readOnly, 'key', 'POST', `/v1/domains/${a.id}/billing/setup-intents`);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json<{ code: string }>().code).toBe('scope_denied');
    expect(stripe.requests).toEqual([]);
    expect(await customerOf(b.id)).toEqual([]);

    // Four requests at once, through two servers: one customer.
    const answers = await Promise.all([
      send(a, 'key', 'POST', `/v1/domains/${a.id}/billing/setup-intents`),
      send(a, 'key', 'POST', `/v1/domains/me/billing/setup-intents`),
      send(a, 'key', 'POST', `/v1/domains/${a.id}/billing/setup-intents`, undefined, second.app),
      send(
        'operator',
        'operator',
        'POST',
        `/v1/domains/${a.id}/billing/setup-intents`,
        undefined,
        second.app,
      ),
    ]);
    for (const res of answers) expect(res.statusCode, res.body).toBe(201);
    const secrets = answers.map((res) => res.json<{ id: string; clientSecret: string }>());
    for (const s of secrets) expect(s.clientSecret.startsWith(`${s.id}_secret_`)).toBe(true);
    expect(new Set(secrets.map((s) => s.id)).size).toBe(4);
    const rows = await customerOf(a.id);
    expect(rows).toHaveLength(1);
    const customerId = rows[0]!.customer_id;
    const creations = stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/customers');
    expect(creations.length).toBeGreaterThanOrEqual(1);
    for (const r of creations) {
      expect(r.idempotencyKey).toBe(`bulkhead-customer-${a.id}`);
      expect(r.params['metadata[bulkhead_domain_id]']).toBe(a.id);
    }
    // Stripe made it once: the other requests were replays of the same key.
    expect([...stripe.customers.values()].filter((c) => c['id'] === customerId)).toHaveLength(1);
    expect(stripe.customers.size).toBe(1);
    const setups = stripe.requests.filter((r) => r.path === '/v1/setup_intents');
    expect(setups.map((r) => r.params['customer'])).toEqual([customerId, customerId, customerId, customerId]);
    for (const r of setups) expect(r.params['metadata[bulkhead_domain_id]']).toBe(a.id);

    // B's own: another customer, never A's.
    const bSetup = await send(b, 'key', 'POST', `/v1/domains/${b.id}/billing/setup-intents`);
    expect(bSetup.statusCode, bSetup.body).toBe(201);
    const bCustomer = (await customerOf(b.id))[0]!.customer_id;
    expect(bCustomer).not.toBe(customerId);
    expect(stripe.customers.get(bCustomer)?.['metadata']).toEqual({ bulkhead_domain_id: b.id });
    // Only Stripe's ids are stored.
    expect(Object.keys(rows[0]!).sort()).toEqual(['created_at', 'customer_id', 'deleted_at', 'domain_id']);
  });

  it("lists only the domain's own payment methods, and answers B's payment method to A like an unknown one", async () => {
    const aCustomer = (await customerOf(a.id))[0]!.customer_id;
    const bCustomer = (await customerOf(b.id))[0]!.customer_id;
    const aCard = stripe.attachCard(aCustomer, { brand: 'visa', last4: '4242' });
    const aSpare = stripe.attachCard(aCustomer, { brand: 'mastercard', last4: '4444' });
    const bCard = stripe.attachCard(bCustomer, { brand: 'amex', last4: '0005' });
    const list = await send(a, 'key', 'GET', `/v1/domains/${a.id}/billing/payment-methods`);
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: unknown[] }>().items).toEqual([
      { id: aSpare['id'], type: 'card', brand: 'mastercard', last4: '4444', expMonth: 8, expYear: 2030 },
      { id: aCard['id'], type: 'card', brand: 'visa', last4: '4242', expMonth: 8, expYear: 2030 },
    ]);
    expect(list.body).not.toContain(bCard['id'] as string);
    for (const credential of ['token', 'session'] as const) {
      const res = await send(a, credential, 'GET', `/v1/domains/${a.id}/billing/payment-methods`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).not.toContain(bCard['id'] as string);
    }

    const before = await domainState(services, b.id);
    const stolen = await send(
      a,
      'key',
      'DELETE',
      `/v1/domains/${a.id}/billing/payment-methods/${bCard['id'] as string}`,
    );
    const unknown = await send(
      a,
      'key',
      'DELETE',
      `/v1/domains/${a.id}/billing/payment-methods/pm_0000000000000000`,
    );
    expect(stolen.statusCode, stolen.body).toBe(404);
    expect(comparable(stolen)).toEqual(comparable(unknown));
    const across = await send(a, 'key', 'GET', `/v1/domains/${b.id}/billing/payment-methods`);
    expect(across.statusCode).toBe(404);
    expect(across.body).not.toContain(bCard['id'] as string);
    const acrossDelete = await send(
      a,
      'key',
      'DELETE',
      `/v1/domains/${b.id}/billing/payment-methods/${bCard['id'] as string}`,
    );
    expect(acrossDelete.statusCode).toBe(404);
    // B's card is still B's, and nothing of B changed.
    expect(stripe.paymentMethods.get(bCard['id'] as string)?.['customer']).toBe(bCustomer);
    expect(
      stripe.requests.some((r) => r.path === `/v1/payment_methods/${bCard['id'] as string}/detach`),
    ).toBe(false);
    expect(await domainState(services, b.id)).toEqual(before);

    const detached = await send(
      a,
      'key',
      'DELETE',
      `/v1/domains/${a.id}/billing/payment-methods/${aSpare['id'] as string}`,
    );
    expect(detached.statusCode, detached.body).toBe(204);
    const after = await send(a, 'key', 'GET', `/v1/domains/me/billing/payment-methods`);
    expect(after.json<{ items: { id: string }[] }>().items.map((i) => i.id)).toEqual([aCard['id']]);
  });

  it('charges an open invoice through Stripe and marks it paid from a signed webhook only', async () => {
    const invoice = invoices.get(`${a.id} ${firstPeriod}`)!;
    const bInvoice = invoices.get(`${b.id} ${firstPeriod}`)!;
    const aCustomer = (await customerOf(a.id))[0]!.customer_id;
    const bCustomer = (await customerOf(b.id))[0]!.customer_id;
    const aCard = [...stripe.paymentMethods.values()].find((pm) => pm['customer'] === aCustomer)!;
    // Only the operator charges.
    for (const credential of ['key', 'token', 'session'] as const) {
      const res = await send(a, credential, 'POST', `/v1/domains/${a.id}/invoices/${invoice.id}/charge`);
      expect(res.statusCode, res.body).toBe(403);
    }
    const charge = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${a.id}/invoices/${invoice.id}/charge`,
    );
    expect(charge.statusCode, charge.body).toBe(200);
    const charged = charge.json<{ paymentIntentId: string; status: string; invoiceStatus: string }>();
    expect(charged).toMatchObject({
      invoiceId: invoice.id,
      attempt: 1,
      status: 'processing',
      invoiceStatus: 'open',
    });
    const sent = stripe.requests.filter((r) => r.path === '/v1/payment_intents');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.idempotencyKey).toBe(invoice.id);
    expect(sent[0]!.params).toMatchObject({
      amount: String(invoice.total),
      currency: 'eur',
      customer: aCustomer,
      payment_method: aCard['id'],
      off_session: 'true',
      confirm: 'true',
      'metadata[bulkhead_domain_id]': a.id,
      'metadata[bulkhead_invoice_id]': invoice.id,
    });
    // Charging again sends the same request with the same key: the same PaymentIntent.
    const again = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${a.id}/invoices/${invoice.id}/charge`,
    );
    expect(again.json<{ paymentIntentId: string }>().paymentIntentId).toBe(charged.paymentIntentId);
    expect(stripe.paymentIntents.size).toBe(1);
    const recorded = await asOwner(services.store, (tx) =>
      tx.selectFrom('invoice_payments').selectAll().where('invoice_id', '=', invoice.id).execute(),
    );
    expect(recorded).toMatchObject([
      { attempt: 1, payment_intent_id: charged.paymentIntentId, status: 'processing' },
    ]);

    // B's invoice charged too, so that B has a PaymentIntent of its own to smuggle.
    stripe.attachCard(bCustomer);
    const bCharge = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/invoices/${bInvoice.id}/charge`,
    );
    expect(bCharge.statusCode, bCharge.body).toBe(200);
    const bIntentId = bCharge.json<{ paymentIntentId: string }>().paymentIntentId;

    const intent = succeededIntent(stripe.paymentIntents.get(charged.paymentIntentId));
    const bIntent = succeededIntent(stripe.paymentIntents.get(bIntentId));
    const succeeded = stripe.webhook('payment_intent.succeeded', intent);

    const aBefore = await domainState(services, a.id);
    const bBefore = await domainState(services, b.id);
    const ignoredBefore = (await ignoredEvents()).length;
    const attacks: [string, { body: string; signature?: string }, number][] = [
      ['no signature', { body: succeeded.body }, 400],
      [
        'forged with another secret',
        stripe.webhook('payment_intent.succeeded', intent, { secret: 'whsec_forged0123456789' }),
        400,
      ],
      [
        'signed for another body',
        { body: succeeded.body.replace('"succeeded"', '"succeeded" '), signature: succeeded.signature },
        400,
      ],
      [
        'stale: signed six minutes ago',
        stripe.webhook('payment_intent.succeeded', intent, {
          timestamp: Math.floor(Date.now() / 1000) - 360,
        }),
        400,
      ],
      // B's customer with A's PaymentIntent: B recorded no such payment.
      [
        'foreign customer',
        stripe.webhook('payment_intent.succeeded', { ...intent, customer: bCustomer }),
        200,
      ],
      // A's customer with B's PaymentIntent: A recorded no such payment.
      [
        'foreign payment',
        stripe.webhook('payment_intent.succeeded', { ...bIntent, customer: aCustomer }),
        200,
      ],
      [
        'unknown customer',
        stripe.webhook('payment_intent.succeeded', { ...intent, customer: 'cus_unknown000000' }),
        200,
      ],
      ['no customer', stripe.webhook('payment_intent.succeeded', { ...intent, customer: null }), 200],
      ['another amount', stripe.webhook('payment_intent.succeeded', { ...intent, amount_received: 1 }), 200],
    ];
    for (const [label, hook, status] of attacks) {
      const res = await postWebhook(hook);
      expect(res.statusCode, `${label}: ${res.body}`).toBe(status);
      if (status === 400) expect(res.json<{ code: string }>().code, label).toBe('invalid_signature');
      else expect(res.json(), label).toEqual({ received: true, handled: false });
      expect(await domainState(services, a.id), label).toEqual(aBefore);
      expect(await domainState(services, b.id), label).toEqual(bBefore);
    }
    expect((await invoiceOf(a, firstPeriod)).status).toBe('open');
    // The events naming no domain's customer, and those naming a payment not recorded, are audited.
    const ignored = (await ignoredEvents()).slice(ignoredBefore);
    expect(ignored.map((e) => [e.domainId, e.detail['reason']])).toEqual([
      [b.id, 'unknown_payment_intent'],
      [a.id, 'unknown_payment_intent'],
      [null, 'unknown_customer'],
      [null, 'unknown_customer'],
      [a.id, 'amount_mismatch'],
    ]);

    const good = await postWebhook(succeeded);
    expect(good.statusCode, good.body).toBe(200);
    expect(good.json()).toEqual({ received: true, handled: true });
    const paid = await invoiceOf(a, firstPeriod);
    expect(paid).toMatchObject({ status: 'paid', paymentReference: charged.paymentIntentId });
    expect((await invoiceOf(b, firstPeriod)).status).toBe('open');

    // Replayed, and re-ordered (a failure sent after the success): nothing changes.
    const settled = await domainState(services, a.id);
    const replay = await postWebhook(succeeded);
    expect(replay.json()).toEqual({ received: true, handled: false });
    const late = await postWebhook(
      stripe.webhook('payment_intent.payment_failed', {
        ...intent,
        status: 'requires_payment_method',
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
      }),
    );
    expect(late.json()).toEqual({ received: true, handled: false });
    const lateSucceeded = await postWebhook(stripe.webhook('payment_intent.succeeded', intent));
    expect(lateSucceeded.json()).toEqual({ received: true, handled: false });
    // The new events are recorded as seen; nothing else of A changed.
    const { stripe_events: events, ...rest } = await domainState(services, a.id);
    const { stripe_events: settledEvents, ...settledRest } = settled;
    expect(rest).toEqual(settledRest);
    expect(events).toHaveLength(settledEvents!.length + 2);
    expect(await invoiceOf(a, firstPeriod)).toEqual(paid);
    const payment = await asOwner(services.store, (tx) =>
      tx.selectFrom('invoice_payments').selectAll().where('invoice_id', '=', invoice.id).execute(),
    );
    expect(payment).toMatchObject([{ status: 'succeeded', failure_code: null }]);
    // A paid invoice is not charged again.
    const paidCharge = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${a.id}/invoices/${invoice.id}/charge`,
    );
    expect(paidCharge.statusCode).toBe(409);
    expect(paidCharge.json<{ code: string }>().code).toBe('invoice_status');
  });

  it('records a declined payment, and charges a retry as a new attempt with a new key', async () => {
    const invoice = invoices.get(`${b.id} ${firstPeriod}`)!;
    const first = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('invoice_payments')
        .selectAll()
        .where('invoice_id', '=', invoice.id)
        .executeTakeFirstOrThrow(),
    );
    // The processing attempt fails, as Stripe reports it.
    const failed = await postWebhook(
      stripe.webhook('payment_intent.payment_failed', {
        ...stripe.paymentIntents.get(first.payment_intent_id!)!,
        status: 'requires_payment_method',
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
      }),
    );
    expect(failed.json()).toEqual({ received: true, handled: true });
    // The retry is declined at once (402), recorded, and the next one succeeds at once.
    stripe.declineNext = 'do_not_honor';
    const declined = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/invoices/${invoice.id}/charge`,
    );
    expect(declined.statusCode, declined.body).toBe(402);
    expect(declined.json<{ code: string }>().code).toBe('payment_failed');
    stripe.intentStatus = 'succeeded';
    const retried = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/invoices/${invoice.id}/charge`,
    );
    stripe.intentStatus = 'processing';
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ attempt: 3, status: 'succeeded', invoiceStatus: 'paid' });
    const attempts = await asOwner(services.store, (tx) =>
      tx
        .selectFrom('invoice_payments')
        .selectAll()
        .where('invoice_id', '=', invoice.id)
        .orderBy('attempt')
        .execute(),
    );
    expect(attempts.map((p) => [p.attempt, p.idempotency_key, p.status, p.failure_code])).toEqual([
      [1, invoice.id, 'failed', 'insufficient_funds'],
      [2, `${invoice.id}.2`, 'failed', 'do_not_honor'],
      [3, `${invoice.id}.3`, 'succeeded', null],
    ]);
    expect((await invoiceOf(b, firstPeriod)).status).toBe('paid');
  });

  it('resumes a domain suspended for billing when its last unpaid invoice is paid, and no other suspension', async () => {
    const aInvoice = invoices.get(`${a.id} ${secondPeriod}`)!;
    const bInvoice = invoices.get(`${b.id} ${secondPeriod}`)!;
    const suspendA = await send('operator', 'operator', 'POST', `/v1/domains/${a.id}/suspend?reason=billing`);
    expect(suspendA.json()).toMatchObject({ status: 'suspended', suspendReason: 'billing' });
    const suspendB = await send('operator', 'operator', 'POST', `/v1/domains/${b.id}/suspend?reason=abuse`);
    expect(suspendB.json()).toMatchObject({ status: 'suspended', suspendReason: 'abuse' });
    const bad = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/suspend?reason=Not%20a%20word`,
    );
    expect(bad.statusCode).toBe(400);
    // A suspended domain keeps its data, and its credentials are refused.
    expect((await send(a, 'key', 'GET', `/v1/domains/${a.id}/invoices`)).statusCode).toBe(401);
    expect(
      (await send('operator', 'operator', 'GET', `/v1/domains/${a.id}/invoices`)).json<{ items: unknown[] }>()
        .items,
    ).toHaveLength(2);

    // A is charged and paid by Stripe's webhook: its last unpaid invoice, so A is resumed.
    const charge = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${a.id}/invoices/${aInvoice.id}/charge`,
    );
    expect(charge.statusCode, charge.body).toBe(200);
    const intentId = charge.json<{ paymentIntentId: string }>().paymentIntentId;
    const intent = succeededIntent(stripe.paymentIntents.get(intentId));
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${a.id}`)).json()).toMatchObject({
      status: 'suspended',
    });
    const hook = await postWebhook(stripe.webhook('payment_intent.succeeded', intent));
    expect(hook.json()).toEqual({ received: true, handled: true });
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${a.id}`)).json()).toMatchObject({
      status: 'active',
      suspendReason: null,
    });
    expect((await send(a, 'key', 'GET', `/v1/domains/${a.id}/invoices`)).statusCode).toBe(200);
    const resumed = await send(
      'operator',
      'operator',
      'GET',
      `/v1/audit?domainId=${a.id}&action=domain.resume`,
    );
    expect(resumed.json<{ items: { actor: string; detail: unknown }[] }>().items).toMatchObject([
      { actor: 'stripe', detail: { from: 'suspended', reason: 'billing' } },
    ]);

    // B is paid by the operator: suspended for another reason, it stays suspended.
    const pay = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/invoices/${bInvoice.id}/pay`,
      {
        reference: 'wire-0001',
      },
    );
    expect(pay.statusCode, pay.body).toBe(200);
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${b.id}`)).json()).toMatchObject({
      status: 'suspended',
      suspendReason: 'abuse',
    });
    await send('operator', 'operator', 'POST', `/v1/domains/${b.id}/resume`);
  });

  it('resumes a domain suspended for billing only when its last unpaid invoice is paid', async () => {
    let c = await createTenant(app, operatorToken, `pay-c-${backend.name}-${process.pid}`);
    c = await withKey(c, ['invoices:read']);
    await use(c, 10);
    for (const period of [firstPeriod, secondPeriod]) {
      const res = await send(
        'operator',
        'operator',
        'POST',
        `/v1/domains/${c.id}/billing/periods/${period}/close`,
      );
      expect(res.statusCode, res.body).toBe(200);
    }
    await send('operator', 'operator', 'POST', `/v1/domains/${c.id}/suspend?reason=billing`);
    const [first, last] = [await invoiceOf(c, firstPeriod), await invoiceOf(c, secondPeriod)];
    const pay = (id: string) =>
      send('operator', 'operator', 'POST', `/v1/domains/${c.id}/invoices/${id}/pay`, {
        reference: `ref-${id}`,
      });
    expect((await pay(first.id)).statusCode).toBe(200);
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${c.id}`)).json()).toMatchObject({
      status: 'suspended',
      suspendReason: 'billing',
    });
    expect((await pay(last.id)).statusCode).toBe(200);
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${c.id}`)).json()).toMatchObject({
      status: 'active',
    });
  });

  it("deletes the domain's Stripe customer with the domain, and again from the reconciler when Stripe was down", async () => {
    const make = async (label: string) => {
      const t = await createTenant(app, operatorToken, `pay-${label}-${backend.name}-${process.pid}`);
      const res = await send('operator', 'operator', 'POST', `/v1/domains/${t.id}/billing/setup-intents`);
      expect(res.statusCode, res.body).toBe(201);
      return { tenant: t, customerId: (await customerOf(t.id))[0]!.customer_id };
    };
    const d = await make('d');
    const removed = await send('operator', 'operator', 'DELETE', `/v1/domains/${d.tenant.id}`);
    expect(removed.statusCode, removed.body).toBe(200);
    expect(stripe.customers.has(d.customerId)).toBe(false);
    expect(
      stripe.requests.some((r) => r.method === 'DELETE' && r.path === `/v1/customers/${d.customerId}`),
    ).toBe(true);
    expect((await customerOf(d.tenant.id))[0]!.deleted_at).not.toBeNull();

    // Stripe out of reach at the deletion: the domain is deleted all the same, the customer later.
    const e = await make('e');
    stripe.down = true;
    const deleted = await send('operator', 'operator', 'DELETE', `/v1/domains/${e.tenant.id}`);
    stripe.down = false;
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(stripe.customers.has(e.customerId)).toBe(true);
    expect((await customerOf(e.tenant.id))[0]!.deleted_at).toBeNull();
    // A deleted domain gets no new customer, nor a SetupIntent.
    expect(
      (await send('operator', 'operator', 'POST', `/v1/domains/${e.tenant.id}/billing/setup-intents`))
        .statusCode,
    ).toBeGreaterThanOrEqual(400);
    expect(await services.payments.reconcile()).toBe(1);
    expect(stripe.customers.has(e.customerId)).toBe(false);
    expect((await customerOf(e.tenant.id))[0]!.deleted_at).not.toBeNull();
    expect(await services.payments.reconcile()).toBe(0);
    const audit = await send(
      'operator',
      'operator',
      'GET',
      `/v1/audit?domainId=${e.tenant.id}&action=payment.customer_delete`,
    );
    expect(audit.json<{ items: { target: string }[] }>().items).toMatchObject([{ target: e.customerId }]);
    // The live domains' customers are untouched.
    expect(stripe.customers.has((await customerOf(a.id))[0]!.customer_id)).toBe(true);
  });

  it('answers payments_not_configured without Stripe, and the operator settles invoices as before', async () => {
    const plain = buildServices(services.store, testSecret, { providers: new Map(), slugQuarantineMs: 0 });
    await plain.operator.initialise(operatorToken);
    const plainApp = await buildServer(plain);
    try {
      const setup = await send(
        'operator',
        'operator',
        'POST',
        `/v1/domains/${a.id}/billing/setup-intents`,
        undefined,
        plainApp,
      );
      expect(setup.statusCode).toBe(409);
      expect(setup.json<{ code: string }>().code).toBe('payments_not_configured');
      // A domain with a customer cannot list it without Stripe; one that never set up billing has none.
      const listed = await send(
        'operator',
        'operator',
        'GET',
        `/v1/domains/${a.id}/billing/payment-methods`,
        undefined,
        plainApp,
      );
      expect(listed.statusCode).toBe(409);
      const fresh = await createTenant(plainApp, operatorToken, `pay-f-${backend.name}-${process.pid}`);
      const none = await send(
        'operator',
        'operator',
        'GET',
        `/v1/domains/${fresh.id}/billing/payment-methods`,
        undefined,
        plainApp,
      );
      expect(none.statusCode, none.body).toBe(200);
      expect(none.json()).toEqual({ items: [] });
      const hook = stripe.webhook('payment_intent.succeeded', fixtureIntent());
      const res = await plainApp.inject({
        method: 'POST',
        url: '/v1/billing/stripe/webhook',
        headers: { 'content-type': 'application/json', 'stripe-signature': hook.signature },
        payload: hook.body,
      });
      expect(res.statusCode).toBe(409);
      expect(res.json<{ code: string }>().code).toBe('payments_not_configured');
    } finally {
      await plainApp.close();
    }
  });
});

/** A PaymentIntent of the test server as Stripe shows it once it succeeded. */
function succeededIntent(intent: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...intent!, status: 'succeeded', amount_received: intent!['amount'] };
}

function fixtureIntent(): Record<string, unknown> {
  return { id: 'pi_0000000000', object: 'payment_intent', customer: null, amount: 1, currency: 'eur' };
}
