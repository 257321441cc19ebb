// Payments through Stripe (docs/billing.md#payments-with-stripe), with the official `stripe` library.
// Each domain is its own Stripe customer, made once (an idempotency key derived from the domain id, so
// two servers or a retry never make two) and tagged with the domain id; Bulkhead keeps Stripe's ids only.
// A payment method belongs to the domain whose customer holds it: any other is answered like one that
// does not exist. An invoice is charged off-session with a PaymentIntent whose idempotency key is the
// invoice's (and its attempt's, after a failure); a webhook changes an invoice only when its signature is
// good and recent, its event is new, its customer is a domain's, and its PaymentIntent is one that domain
// recorded for that invoice. A deleted domain's customer is deleted at Stripe, or left to the reconciler.
import Stripe from 'stripe';
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { findDomain, lockDomain } from '../store/repositories/domains.js';
import { invoiceForPeriod, lockInvoice } from '../store/repositories/billing.js';
import {
  customersOfDeletedDomains,
  domainOfStripeCustomer,
  insertInvoicePayment,
  insertStripeCustomer,
  insertStripeEvent,
  invoicePayments,
  markStripeCustomerDeleted,
  paymentByIntent,
  stripeCustomer,
  updateInvoicePayment,
} from '../store/repositories/payments.js';
import type { InvoicePaymentRow, PaymentStatus } from '../store/schema.js';
import type { DomainTx, Store } from '../store/store.js';
import type { BillingService } from './service.js';

/** How old a webhook's signature may be, in seconds (Stripe's own default tolerance). */
export const webhookToleranceSeconds = 300;

export interface StripeSettings {
  readonly secretKey: string;
  readonly webhookSecret: string;
  /** Another address of the API (`http://127.0.0.1:12111`); unset: Stripe's own. */
  readonly apiUrl?: string | undefined;
}

export interface PaymentOptions {
  readonly store: Store;
  readonly billing: BillingService;
  /** Unset: payments through Stripe are off (`payments_not_configured`). */
  readonly stripe?: StripeSettings | undefined;
  /** Whether closing a period charges each domain's invoice (`chargeClosed`); needs `stripe`. */
  readonly autoCharge?: boolean | undefined;
}

/** What `chargeClosed` did with a domain's invoice of a closed period. */
export type AutoChargeOutcome = 'charged' | 'declined' | 'failed' | 'no_payment_method' | 'not_due' | 'off';

export interface SetupIntentView {
  readonly id: string;
  /** For Stripe.js in the domain's page (`stripe.confirmCardSetup`): it attaches a card to the customer. */
  readonly clientSecret: string;
}

export interface PaymentMethodView {
  readonly id: string;
  readonly type: string;
  readonly brand: string | null;
  readonly last4: string | null;
  readonly expMonth: number | null;
  readonly expYear: number | null;
}

export interface ChargeView {
  readonly invoiceId: string;
  readonly attempt: number;
  readonly paymentIntentId: string | null;
  readonly status: PaymentStatus;
  /** The invoice's status after the charge (`paid` when Stripe answered the payment succeeded). */
  readonly invoiceStatus: string;
}

export interface WebhookResult {
  readonly received: true;
  /** Whether the event changed anything (a replay, an unknown customer or payment change nothing). */
  readonly handled: boolean;
}

/** The Stripe actor of webhook effects in the audit log. */
const stripeActor = (requestId: string | null): Actor => ({ actor: 'stripe', requestId });

/** A Stripe PaymentIntent's status as Bulkhead records it. */
function paymentStatus(intent: Stripe.PaymentIntent): PaymentStatus {
  if (intent.status === 'succeeded') return 'succeeded';
  if (intent.status === 'processing') return 'processing';
  if (intent.status === 'canceled' || intent.last_payment_error != null) return 'failed';
  return 'pending';
}

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id;

/** A Stripe failure as the API answers it: `not_found` for a missing object, 503 when Stripe is not reached. */
function providerError(error: unknown): BulkheadError {
  if (error instanceof BulkheadError) return error;
  if (error instanceof Stripe.errors.StripeError) {
    if (error.code === 'resource_missing') return notFound();
    return new BulkheadError('unavailable', 'The payment provider did not complete the request.', {
      cause: error,
      reason: `stripe_${error.type}`,
    });
  }
  return new BulkheadError('unavailable', 'The payment provider could not be reached.', { cause: error });
}

export class PaymentService {
  private readonly store: Store;
  private readonly billing: BillingService;
  private readonly client: Stripe | null;
  private readonly webhookSecret: string | null;
  private readonly autoCharge: boolean;

  constructor(options: PaymentOptions) {
    this.store = options.store;
    this.billing = options.billing;
    this.autoCharge = options.autoCharge === true && options.stripe !== undefined;
    const settings = options.stripe;
    if (settings === undefined) {
      this.client = null;
      this.webhookSecret = null;
      return;
    }
    const url = settings.apiUrl === undefined ? undefined : new URL(settings.apiUrl);
    this.client = new Stripe(settings.secretKey, {
      maxNetworkRetries: 2,
      timeout: 20_000,
      telemetry: false,
      ...(url === undefined
        ? {}
        : {
            host: url.hostname,
            port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
            protocol: url.protocol === 'https:' ? ('https' as const) : ('http' as const),
          }),
    });
    this.webhookSecret = settings.webhookSecret;
  }

  /** Whether Stripe is configured. */
  get configured(): boolean {
    return this.client !== null;
  }

  private stripe(): Stripe {
    if (this.client === null)
      throw new BulkheadError(
        'payments_not_configured',
        'Set BULKHEAD_STRIPE_SECRET_KEY to take payments through Stripe; until then invoices are settled with …/pay.',
      );
    return this.client;
  }

  /**
   * The domain's Stripe customer, made the first time: tagged with the domain id, with an idempotency key
   * derived from it so that two servers or a retry get the same customer. A deleted domain gets none.
   */
  async customer(actor: Actor, domainId: string): Promise<string> {
    const stripe = this.stripe();
    const existing = await this.store.withDomain(domainId, async (tx) => {
      const domain = await findDomain(tx, domainId);
      if (domain === undefined) throw notFound();
      if (domain.status === 'deleted')
        throw new BulkheadError('domain_deleted', 'A deleted domain has no payment customer.');
      return (await stripeCustomer(tx, domainId))?.customer_id;
    });
    if (existing !== undefined) return existing;
    const created = await stripe.customers
      .create(
        { metadata: { bulkhead_domain_id: domainId }, description: `Bulkhead domain ${domainId}` },
        { idempotencyKey: `bulkhead-customer-${domainId}` },
      )
      .catch((error: unknown) => {
        throw providerError(error);
      });
    return this.store.withDomain(domainId, async (tx) => {
      // The domain's row is locked first: two servers recording the same customer at once would otherwise
      // both try the insert, and PostgreSQL settles a race on the customer id's unique index with an error
      // (only `domain_id`'s conflict is the one the insert expects).
      await lockDomain(tx, domainId);
      const at = new Date();
      if (await insertStripeCustomer(tx, { domainId, customerId: created.id, at })) {
        await appendAudit(tx, succeeded(actor, domainId, 'payment.customer_create', created.id));
        return created.id;
      }
      // Another server recorded it first (the same customer, by the idempotency key).
      return (await stripeCustomer(tx, domainId))!.customer_id;
    });
  }

  /** A SetupIntent for the domain's customer (made if missing): its client secret attaches a card. */
  async setupIntent(actor: Actor, domainId: string): Promise<SetupIntentView> {
    const customerId = await this.customer(actor, domainId);
    const intent = await this.stripe()
      .setupIntents.create({
        customer: customerId,
        usage: 'off_session',
        metadata: { bulkhead_domain_id: domainId },
      })
      .catch((error: unknown) => {
        throw providerError(error);
      });
    if (idOf(intent.customer) !== customerId || intent.client_secret === null)
      throw new BulkheadError(
        'unavailable',
        'The payment provider answered a SetupIntent of another customer.',
      );
    await this.store.withDomain(domainId, (tx) =>
      appendAudit(
        tx,
        succeeded(actor, domainId, 'payment.setup_intent', intent.id, { customer: customerId }),
      ),
    );
    return { id: intent.id, clientSecret: intent.client_secret };
  }

  /** The domain's customer's id, or undefined when it has none (it never set up billing). */
  private storedCustomer(domainId: string): Promise<string | undefined> {
    return this.store.withDomain(domainId, async (tx) => {
      const row = await stripeCustomer(tx, domainId);
      return row === undefined || row.deleted_at !== null ? undefined : row.customer_id;
    });
  }

  /**
   * The payment methods of the domain's customer: none before it set up billing (nor, then, on a server
   * without Stripe, where it cannot).
   */
  async paymentMethods(domainId: string): Promise<PaymentMethodView[]> {
    const customerId = await this.storedCustomer(domainId);
    if (customerId === undefined) return [];
    const stripe = this.stripe();
    const list = await stripe.customers
      .listPaymentMethods(customerId, { limit: 100 })
      .catch((error: unknown) => {
        throw providerError(error);
      });
    return (
      list.data
        // What Stripe answers for this customer is this customer's; checked all the same.
        .filter((pm) => idOf(pm.customer) === customerId)
        .map((pm) => ({
          id: pm.id,
          type: pm.type,
          brand: pm.card?.brand ?? null,
          last4: pm.card?.last4 ?? null,
          expMonth: pm.card?.exp_month ?? null,
          expYear: pm.card?.exp_year ?? null,
        }))
    );
  }

  /** Detaches one of the domain's payment methods; any other (another domain's, unknown) is `not_found`. */
  async detachPaymentMethod(actor: Actor, domainId: string, paymentMethodId: string): Promise<void> {
    const stripe = this.stripe();
    const customerId = await this.storedCustomer(domainId);
    if (customerId === undefined) throw notFound();
    const method = await stripe.paymentMethods.retrieve(paymentMethodId).catch((error: unknown) => {
      throw providerError(error);
    });
    if (idOf(method.customer) !== customerId) throw notFound();
    await stripe.paymentMethods.detach(paymentMethodId).catch((error: unknown) => {
      throw providerError(error);
    });
    await this.store.withDomain(domainId, (tx) =>
      appendAudit(
        tx,
        succeeded(actor, domainId, 'payment.method_detach', paymentMethodId, { customer: customerId }),
      ),
    );
  }

  /**
   * Charges one of the domain's unpaid invoices through Stripe: a PaymentIntent for its total, off
   * session, confirmed at once, with the customer's default payment method (or its newest). The attempt
   * is recorded before Stripe is asked; a retry after a crash sends the same idempotency key again and
   * gets the same PaymentIntent. A failed attempt makes the next charge a new attempt (a new key).
   */
  async charge(actor: Actor, domainId: string, invoiceId: string): Promise<ChargeView> {
    const stripe = this.stripe();
    const plan = await this.store.withDomain(domainId, async (tx) => {
      const invoice = await lockInvoice(tx, domainId, invoiceId);
      if (invoice === undefined) throw notFound();
      if (invoice.status !== 'open' && invoice.status !== 'uncollectible')
        throw new BulkheadError('invoice_status', `An invoice that is ${invoice.status} is not charged.`);
      if (BigInt(invoice.total) === 0n)
        throw new BulkheadError('invoice_status', 'An invoice of 0 is settled with …/pay, not charged.');
      const customer = await stripeCustomer(tx, domainId);
      if (customer === undefined || customer.deleted_at !== null)
        throw new BulkheadError('payment_method_missing', 'The domain has not set up a payment method.');
      const attempts = await invoicePayments(tx, domainId, invoiceId);
      let last = attempts.at(-1);
      if (last === undefined || last.status === 'failed') {
        const attempt = (last?.attempt ?? 0) + 1;
        // The invoice id is the key of its first attempt; a retry after a failure is a new request.
        const idempotencyKey = attempt === 1 ? invoiceId : `${invoiceId}.${attempt}`;
        await insertInvoicePayment(tx, { domainId, invoiceId, attempt, idempotencyKey, at: new Date() });
        last = { attempt, idempotency_key: idempotencyKey, status: 'pending' } as InvoicePaymentRow;
      }
      return {
        attempt: last.attempt,
        idempotencyKey: last.idempotency_key,
        amount: Number(invoice.total),
        currency: invoice.currency.toLowerCase(),
        description: `Invoice ${invoice.number} (${invoice.period})`,
        customerId: customer.customer_id,
      };
    });
    const method = await this.chargeableMethod(stripe, plan.customerId);
    let intent: Stripe.PaymentIntent;
    try {
      intent = await stripe.paymentIntents.create(
        {
          amount: plan.amount,
          currency: plan.currency,
          customer: plan.customerId,
          payment_method: method,
          off_session: true,
          confirm: true,
          description: plan.description,
          metadata: { bulkhead_domain_id: domainId, bulkhead_invoice_id: invoiceId },
        },
        { idempotencyKey: plan.idempotencyKey },
      );
    } catch (error) {
      // A decline answers the PaymentIntent it left: record it as this attempt's, failed.
      if (error instanceof Stripe.errors.StripeError && error.payment_intent !== undefined) {
        const declined = error.payment_intent;
        await this.store.withDomain(domainId, (tx) =>
          this.record(
            tx,
            actor,
            domainId,
            invoiceId,
            plan.attempt,
            declined,
            error.decline_code ?? error.code,
          ),
        );
        throw new BulkheadError('payment_failed', 'Stripe refused the payment.', {
          reason: error.decline_code ?? error.code,
        });
      }
      throw providerError(error);
    }
    return this.store.withDomain(domainId, (tx) =>
      this.record(tx, actor, domainId, invoiceId, plan.attempt, intent, null),
    );
  }

  /**
   * Charges the domain's invoice of a period just closed, when closing charges (`autoCharge`) and the
   * domain set up a payment customer, through `charge` (so with its idempotency key). Run again — a
   * second close, or a close a crash interrupted — it charges only an invoice no attempt was made for,
   * or whose attempt was recorded but never answered (the same key again: the same PaymentIntent); an
   * invoice paid, being paid (`processing`), or declined once is left to the operator. A decline is
   * recorded and audited by `charge`, and the invoice stays open. Never throws.
   */
  async chargeClosed(actor: Actor, domainId: string, period: string): Promise<AutoChargeOutcome> {
    if (!this.autoCharge) return 'off';
    try {
      const invoiceId = await this.store.withDomain(domainId, async (tx) => {
        const invoice = await invoiceForPeriod(tx, domainId, period);
        if (invoice === undefined || invoice.status !== 'open' || BigInt(invoice.total) === 0n) return null;
        const customer = await stripeCustomer(tx, domainId);
        if (customer === undefined || customer.deleted_at !== null) return undefined;
        const attempts = await invoicePayments(tx, domainId, invoice.id);
        if (attempts.some((a) => a.status !== 'pending')) return null;
        return invoice.id;
      });
      if (invoiceId === null) return 'not_due';
      if (invoiceId === undefined) return 'no_payment_method';
      await this.charge(actor, domainId, invoiceId);
      return 'charged';
    } catch (error) {
      if (error instanceof BulkheadError && error.code === 'payment_failed') return 'declined';
      if (error instanceof BulkheadError && error.code === 'payment_method_missing')
        return 'no_payment_method';
      // Stripe not reached: the attempt stays pending, and the next close sends it again.
      return 'failed';
    }
  }

  /** The payment method a charge uses: the customer's default, or else its newest card. */
  private async chargeableMethod(stripe: Stripe, customerId: string): Promise<string> {
    try {
      const customer = await stripe.customers.retrieve(customerId);
      const preferred = 'deleted' in customer ? null : idOf(customer.invoice_settings.default_payment_method);
      if (preferred !== null) return preferred;
      const list = await stripe.customers.listPaymentMethods(customerId, { limit: 1 });
      const newest = list.data.find((pm) => idOf(pm.customer) === customerId);
      if (newest !== undefined) return newest.id;
    } catch (error) {
      throw providerError(error);
    }
    throw new BulkheadError('payment_method_missing', 'The domain has no payment method attached.');
  }

  /** Records what Stripe answered for an attempt and, when it succeeded, marks the invoice paid. */
  private async record(
    tx: DomainTx,
    actor: Actor,
    domainId: string,
    invoiceId: string,
    attempt: number,
    intent: Stripe.PaymentIntent,
    failureCode: string | null | undefined,
  ): Promise<ChargeView> {
    const status = failureCode == null ? paymentStatus(intent) : 'failed';
    await updateInvoicePayment(tx, domainId, invoiceId, attempt, {
      paymentIntentId: intent.id,
      status,
      failureCode: failureCode ?? intent.last_payment_error?.code ?? null,
      at: new Date(),
    });
    await appendAudit(tx, {
      ...actor,
      domainId,
      action: 'payment.charge',
      target: invoiceId,
      outcome: status === 'failed' ? 'failure' : 'success',
      detail: { paymentIntent: intent.id, attempt, status, amount: intent.amount, currency: intent.currency },
    });
    let invoiceStatus = await this.invoiceStatus(tx, domainId, invoiceId);
    if (status === 'succeeded' && (invoiceStatus === 'open' || invoiceStatus === 'uncollectible')) {
      await this.billing.changeStatus(tx, actor, domainId, invoiceId, 'paid', intent.id);
      invoiceStatus = 'paid';
    }
    return { invoiceId, attempt, paymentIntentId: intent.id, status, invoiceStatus };
  }

  private async invoiceStatus(tx: DomainTx, domainId: string, invoiceId: string): Promise<string> {
    const row = await lockInvoice(tx, domainId, invoiceId);
    if (row === undefined) throw notFound();
    return row.status;
  }

  /**
   * A webhook from Stripe: the raw body, verified against its `Stripe-Signature` (at most 5 minutes
   * old), or `invalid_signature` and nothing changes. A PaymentIntent's success or failure changes the
   * invoice of the domain whose customer it names, only if that domain recorded this PaymentIntent for
   * it, and only the first time its event id arrives. Anything else changes nothing; an event naming a
   * customer that is no domain's is audited.
   */
  async webhook(
    raw: Buffer,
    signature: string | undefined,
    requestId: string | null,
  ): Promise<WebhookResult> {
    const stripe = this.stripe();
    if (signature === undefined || signature === '')
      throw new BulkheadError('invalid_signature', 'The Stripe-Signature header is missing.');
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(raw, signature, this.webhookSecret!, webhookToleranceSeconds);
    } catch (error) {
      throw new BulkheadError('invalid_signature', 'The webhook signature is not valid or is too old.', {
        cause: error,
      });
    }
    if (event.type !== 'payment_intent.succeeded' && event.type !== 'payment_intent.payment_failed')
      return { received: true, handled: false };
    const intent = event.data.object;
    const actor = stripeActor(requestId);
    const customerId = idOf(intent.customer);
    const domainId =
      customerId === null
        ? undefined
        : await this.store.system('operator', (tx) => domainOfStripeCustomer(tx, customerId));
    if (domainId === undefined) {
      await this.store.system('operator', (tx) =>
        appendAudit(tx, {
          ...actor,
          domainId: null,
          action: 'payment.event_ignored',
          target: event.id,
          outcome: 'denied',
          detail: { type: event.type, customer: customerId, reason: 'unknown_customer' },
        }),
      );
      return { received: true, handled: false };
    }
    return this.store.withDomain(domainId, async (tx) => {
      const ignored = async (reason: string) => {
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'payment.event_ignored',
          target: event.id,
          outcome: 'denied',
          detail: { type: event.type, paymentIntent: intent.id, reason },
        });
        return { received: true as const, handled: false };
      };
      // Only a PaymentIntent this domain recorded for one of its invoices: another domain's (even one
      // with the domain's customer forged in) is not in this domain's rows.
      const payment = await paymentByIntent(tx, domainId, intent.id);
      if (payment === undefined) return ignored('unknown_payment_intent');
      const invoice = await lockInvoice(tx, domainId, payment.invoice_id);
      if (invoice === undefined) return ignored('unknown_payment_intent');
      if (
        event.type === 'payment_intent.succeeded' &&
        (BigInt(invoice.total) !== BigInt(intent.amount_received) ||
          invoice.currency.toLowerCase() !== intent.currency)
      )
        return ignored('amount_mismatch');
      if (!(await insertStripeEvent(tx, { eventId: event.id, domainId, type: event.type, at: new Date() })))
        return { received: true, handled: false }; // a replay: handled the first time
      // Events arrive in any order: once an attempt succeeded, neither a failure nor another success of
      // it changes anything.
      if (payment.status === 'succeeded') return { received: true, handled: false };
      if (event.type === 'payment_intent.payment_failed') {
        const code = intent.last_payment_error?.decline_code ?? intent.last_payment_error?.code ?? 'failed';
        await updateInvoicePayment(tx, domainId, payment.invoice_id, payment.attempt, {
          status: 'failed',
          failureCode: code,
          at: new Date(),
        });
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'payment.failed',
          target: payment.invoice_id,
          outcome: 'failure',
          detail: { event: event.id, paymentIntent: intent.id, code },
        });
        return { received: true, handled: true };
      }
      await updateInvoicePayment(tx, domainId, payment.invoice_id, payment.attempt, {
        status: 'succeeded',
        failureCode: null,
        at: new Date(),
      });
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'payment.succeeded', payment.invoice_id, {
          event: event.id,
          paymentIntent: intent.id,
          amount: intent.amount_received,
        }),
      );
      if (invoice.status === 'open' || invoice.status === 'uncollectible')
        await this.billing.changeStatus(tx, actor, domainId, payment.invoice_id, 'paid', intent.id);
      return { received: true, handled: true };
    });
  }

  /**
   * Deletes the Stripe customer of a deleted domain, if it has one not yet deleted: right after the
   * domain's deletion, and again from the reconciler until Stripe confirms it. True when it is gone.
   */
  async deleteCustomer(domainId: string): Promise<boolean> {
    if (this.client === null) return false;
    const stripe = this.client;
    const customer = await this.store.withDomain(domainId, async (tx) => {
      const domain = await findDomain(tx, domainId);
      if (domain?.status !== 'deleted') return undefined;
      const row = await stripeCustomer(tx, domainId);
      return row === undefined || row.deleted_at !== null ? undefined : row.customer_id;
    });
    if (customer === undefined) return false;
    try {
      await stripe.customers.del(customer);
    } catch (error) {
      // Already gone at Stripe: recorded as deleted all the same.
      if (!(error instanceof Stripe.errors.StripeError && error.code === 'resource_missing')) throw error;
    }
    await this.store.withDomain(domainId, async (tx) => {
      await markStripeCustomerDeleted(tx, domainId, new Date());
      await appendAudit(tx, {
        actor: 'system',
        requestId: null,
        domainId,
        action: 'payment.customer_delete',
        target: customer,
        outcome: 'success',
      });
    });
    return true;
  }

  /** Deletes at Stripe the customers of deleted domains that are still there; answers how many. */
  async reconcile(): Promise<number> {
    if (this.client === null) return 0;
    const pending = await this.store.system('reconciler', (tx) => customersOfDeletedDomains(tx, 100));
    let deleted = 0;
    for (const { domainId } of pending) {
      try {
        if (await this.deleteCustomer(domainId)) deleted++;
      } catch {
        // Stripe not reached: the next round tries again.
      }
    }
    return deleted;
  }
}
