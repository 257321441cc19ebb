// A local Stripe-shaped HTTP server for the payment tests: the `stripe` library is pointed at it (its
// `host`, `port` and `protocol` options) and it answers with Stripe's own published fixture objects
// (test/fixtures/stripe/fixtures3.json), changing ids and fields per request as Stripe would. It is not
// Stripe: it keeps the few objects Bulkhead makes, replays a request sent again with the same idempotency
// key as Stripe does, and records every request (path, form parameters, idempotency key) so that a test
// can check what Bulkhead sent. Webhook events are built from the fixture `event` and signed with the
// library's own `webhooks.generateTestHeaderString`.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

type Obj = Record<string, unknown>;

const fixtures = (
  JSON.parse(readFileSync(new URL('../fixtures/stripe/fixtures3.json', import.meta.url), 'utf8')) as {
    resources: Record<string, Obj>;
  }
).resources;

/** A fresh copy of a fixture object. */
export function fixture(name: string): Obj {
  const object = fixtures[name];
  if (object === undefined) throw new Error(`no Stripe fixture "${name}"`);
  return structuredClone(object);
}

export interface StripeRequest {
  readonly method: string;
  readonly path: string;
  /** The form parameters as sent (`metadata[bulkhead_domain_id]` …), or the query of a GET. */
  readonly params: Record<string, string>;
  readonly idempotencyKey: string | null;
}

export interface TestStripe {
  readonly url: string;
  readonly secretKey: string;
  readonly webhookSecret: string;
  readonly requests: StripeRequest[];
  readonly customers: Map<string, Obj>;
  readonly paymentMethods: Map<string, Obj>;
  readonly paymentIntents: Map<string, Obj>;
  /** The status the next PaymentIntents are confirmed to (`processing` by default: a webhook settles it). */
  intentStatus: 'processing' | 'succeeded' | 'requires_action';
  /** When set, the next PaymentIntent is declined with this decline code (402, as Stripe answers). */
  declineNext: string | null;
  /** Customers whose every PaymentIntent is declined, with the decline code. */
  readonly declineFor: Map<string, string>;
  /** While true, every request is answered 500 (Stripe out of reach). */
  down: boolean;
  /** Attaches a card to a customer, as confirming a SetupIntent in the browser does. */
  attachCard(customerId: string, card?: { brand?: string; last4?: string }): Obj;
  /** A signed webhook: its body and its `Stripe-Signature`, optionally signed at another time. */
  webhook(
    type: string,
    object: Obj,
    options?: { timestamp?: number; secret?: string; id?: string },
  ): { body: string; signature: string; id: string };
  close(): Promise<void>;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function stripeError(res: ServerResponse, status: number, error: Obj): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error }));
}

function missing(res: ServerResponse, id: string): void {
  stripeError(res, 404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such object: '${id}'`,
    param: 'id',
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTestStripe(): Promise<TestStripe> {
  const secretKey = `sk_test_${randomBytes(16).toString('hex')}`;
  const webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const signer = new Stripe(secretKey);
  const requests: StripeRequest[] = [];
  const customers = new Map<string, Obj>();
  const setupIntents = new Map<string, Obj>();
  const paymentMethods = new Map<string, Obj>();
  const paymentIntents = new Map<string, Obj>();
  const replies = new Map<string, { params: string; status: number; body: string }>();
  const now = () => Math.floor(Date.now() / 1000);
  const metadataOf = (params: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(params)
        .filter(([k]) => k.startsWith('metadata['))
        .map(([k, v]) => [k.slice('metadata['.length, -1), v]),
    );

  /** Answers one request: [status, body]. */
  function answer(method: string, path: string, params: Record<string, string>): [number, Obj] | null {
    const parts = path.split('/').filter((p) => p !== '');
    // /v1/customers
    if (method === 'POST' && path === '/v1/customers') {
      const customer = {
        ...fixture('customer'),
        id: newId('cus'),
        created: now(),
        description: params['description'] ?? null,
        metadata: metadataOf(params),
        discount: null,
      };
      customers.set(customer.id, customer);
      return [200, customer];
    }
    if (parts[1] === 'customers' && parts[2] !== undefined) {
      const customer = customers.get(parts[2]);
      if (customer === undefined) return null;
      if (method === 'GET' && parts.length === 3) return [200, customer];
      if (method === 'DELETE' && parts.length === 3) {
        customers.delete(parts[2]);
        return [200, { ...fixture('deleted_customer'), id: parts[2] }];
      }
      if (method === 'GET' && parts[3] === 'payment_methods') {
        const data = [...paymentMethods.values()]
          .filter((pm) => pm['customer'] === parts[2])
          .reverse()
          .slice(0, Number(params['limit'] ?? 10));
        return [200, { object: 'list', data, has_more: false, url: path }];
      }
    }
    if (method === 'POST' && path === '/v1/setup_intents') {
      const id = newId('seti');
      const intent = {
        ...fixture('setup_intent'),
        id,
        client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
        created: now(),
        customer: params['customer'] ?? null,
        usage: params['usage'] ?? 'off_session',
        metadata: metadataOf(params),
        last_setup_error: null,
        next_action: null,
      };
      setupIntents.set(id, intent);
      return [200, intent];
    }
    if (parts[1] === 'payment_methods' && parts[2] !== undefined) {
      const pm = paymentMethods.get(parts[2]);
      if (pm === undefined) return null;
      if (method === 'GET' && parts.length === 3) return [200, pm];
      if (method === 'POST' && parts[3] === 'detach') {
        pm['customer'] = null;
        return [200, pm];
      }
    }
    if (method === 'POST' && path === '/v1/payment_intents') {
      const customer = params['customer'] ?? null;
      const methodId = params['payment_method'] ?? null;
      const pm = methodId === null ? undefined : paymentMethods.get(methodId);
      if (pm === undefined || pm['customer'] !== customer)
        return [
          400,
          {
            error: {
              type: 'invalid_request_error',
              code: 'resource_missing',
              message: 'No such PaymentMethod for this customer',
            },
          },
        ];
      const always = customer === null ? undefined : test.declineFor.get(customer);
      const declined = always ?? test.declineNext;
      if (always === undefined) test.declineNext = null;
      const status = declined !== null ? 'requires_payment_method' : test.intentStatus;
      const amount = Number(params['amount']);
      const intent = {
        ...fixture('payment_intent'),
        id: newId('pi'),
        client_secret: null,
        created: now(),
        canceled_at: null,
        amount,
        amount_received: status === 'succeeded' ? amount : 0,
        currency: params['currency'],
        customer,
        payment_method: methodId,
        description: params['description'] ?? null,
        metadata: metadataOf(params),
        confirmation_method: 'automatic',
        status,
        last_payment_error:
          declined === null ? null : { type: 'card_error', code: 'card_declined', decline_code: declined },
        next_action: null,
      };
      paymentIntents.set(intent.id, intent);
      if (declined !== null)
        return [
          402,
          {
            error: {
              type: 'card_error',
              code: 'card_declined',
              decline_code: declined,
              message: 'Your card was declined.',
              payment_intent: intent,
            },
          },
        ];
      return [200, intent];
    }
    return null;
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://stripe.test');
      const raw = await readBody(req);
      const params = Object.fromEntries(
        new URLSearchParams(req.method === 'GET' || req.method === 'DELETE' ? url.search : raw),
      );
      const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
      requests.push({ method: req.method ?? '', path: url.pathname, params, idempotencyKey });
      if (test.down) return stripeError(res, 500, { type: 'api_error', message: 'down for the test' });
      if (req.headers.authorization !== `Bearer ${secretKey}`)
        return stripeError(res, 401, { type: 'invalid_request_error', message: 'Invalid API Key provided' });
      // Stripe replays the first answer to a key, and refuses the key with other parameters.
      const replay = idempotencyKey === null ? undefined : replies.get(`${req.method} ${idempotencyKey}`);
      const sent = JSON.stringify(params);
      if (replay !== undefined) {
        if (replay.params !== sent)
          return stripeError(res, 400, {
            type: 'idempotency_error',
            message: 'Keys for idempotent requests can only be used with the same parameters.',
          });
        res.writeHead(replay.status, { 'content-type': 'application/json', 'idempotent-replayed': 'true' });
        return res.end(replay.body);
      }
      const result = answer(req.method ?? '', url.pathname, params);
      if (result === null) return missing(res, url.pathname.split('/').at(-1) ?? '');
      const [status, object] = result;
      const body = JSON.stringify(object);
      if (idempotencyKey !== null && req.method === 'POST')
        replies.set(`${req.method} ${idempotencyKey}`, { params: sent, status, body });
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req') });
      res.end(body);
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const test: TestStripe = {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    webhookSecret,
    requests,
    customers,
    paymentMethods,
    paymentIntents,
    intentStatus: 'processing',
    declineNext: null,
    declineFor: new Map(),
    down: false,
    attachCard(customerId, card = {}) {
      const base = fixture('payment_method');
      const pm: Obj = {
        ...base,
        id: newId('pm'),
        created: now(),
        customer: customerId,
        metadata: {},
        card: { ...(base['card'] as Obj), brand: card.brand ?? 'visa', last4: card.last4 ?? '4242' },
      };
      paymentMethods.set(pm['id'] as string, pm);
      return pm;
    },
    webhook(type, object, options = {}) {
      const id = options.id ?? newId('evt');
      const event = {
        ...fixture('event'),
        id,
        created: now(),
        type,
        data: { object },
        api_version: '2025-01-01',
      };
      const body = JSON.stringify(event);
      const signature = signer.webhooks.generateTestHeaderString({
        payload: body,
        secret: options.secret ?? webhookSecret,
        ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
      });
      return { body, signature, id };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return test;
}
