// Billing end to end over the API, on both stores: usage counted once per event id and only for the
// credential's own domain, a price book with a domain's override, a period closed into one invoice per
// domain with exactly its own usage, closing again writing nothing, the status changed by the operator
// alone, and a closed invoice changed in the database found by the audit check. Every attack asserts
// what must not happen: B's rows are exactly as they were.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOf } from '../../src/billing/periods.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi } from '../helpers/api.js';
import { asOwner, backends } from '../helpers/backends.js';
import type { TestProviders } from '../helpers/providers.js';
import {
  comparable,
  createTenant,
  credentialHeaders,
  domainState,
  type CredentialName,
  type Tenant,
} from '../helpers/tenants.js';

const operatorToken = 'billing-test-operator-token-0123456789abcdef';
const op = { authorization: `Bearer ${operatorToken}` };

interface Invoice {
  id: string;
  domainId: string;
  number: number;
  period: string;
  currency: string;
  subtotal: number;
  total: number;
  status: string;
  contentHash: string;
  lines: { meter: string; quantity: number; included: number; billable: number; amount: number }[];
}

/** A month that has ended: the one before the previous, mid-month. */
const now = new Date();
const pastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 15, 12));
const period = periodOf(pastMonth);
const laterPeriod = periodOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15)));

describe.each(backends)('billing on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
  /** Keys of each domain scoped for billing only. */
  let aBilling: Tenant;
  let bBilling: Tenant;

  const send = (
    who: Tenant | 'operator',
    credential: CredentialName | 'operator',
    method: string,
    url: string,
    payload?: unknown,
  ) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: who === 'operator' ? op : credentialHeaders(who, credential, operatorToken, method),
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  const billingKey = async (tenant: Tenant) => {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${tenant.id}/keys`,
      headers: op,
      payload: { scopes: ['usage:write', 'usage:read', 'invoices:read'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    return { ...tenant, key: res.json<{ key: string }>().key };
  };

  const usage = (tenant: Tenant, body: Record<string, unknown>, domainId = tenant.id) =>
    send(tenant, 'key', 'POST', `/v1/domains/${domainId}/usage`, body);

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend, {}, operatorToken));
    a = await createTenant(app, operatorToken, `bill-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `bill-b-${backend.name}-${process.pid}`);
    aBilling = await billingKey(a);
    bBilling = await billingKey(b);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('takes a price book from the operator alone, in integers, and refuses hostile ones with a code', async () => {
    const book = {
      currency: 'EUR',
      meters: [
        { meter: 'api.calls', unit: 'call', unitPrice: 3, per: 10, included: 100 },
        {
          meter: 'emails',
          unit: 'email',
          unitPrice: 25,
          overrides: [{ domainId: b.id, unitPrice: 10, included: 2 }],
        },
        { meter: 'resource.storage', unit: 'second', unitPrice: 1, per: 3600 },
      ],
    };
    for (const credential of ['key', 'token', 'session'] as const) {
      const res = await send(a, credential, 'PUT', '/v1/billing/prices', book);
      expect([401, 403], res.body).toContain(res.statusCode);
    }
    const set = await send('operator', 'operator', 'PUT', '/v1/billing/prices', book);
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({
      currency: 'EUR',
      meters: [
        { meter: 'api.calls', unit: 'call', unitPrice: 3, per: 10, included: 100, overrides: [] },
        {
          meter: 'emails',
          unit: 'email',
          unitPrice: 25,
          per: 1,
          included: 0,
          overrides: [{ domainId: b.id, unitPrice: 10, per: 1, included: 2 }],
        },
        { meter: 'resource.storage', unit: 'second', unitPrice: 1, per: 3600, included: 0, overrides: [] },
      ],
    });
    expect((await send('operator', 'operator', 'GET', '/v1/billing/prices')).json()).toEqual(set.json());
    const hostile: [unknown, string][] = [
      [{ ...book, currency: 'euro' }, 'invalid_request'],
      [{ currency: 'EUR', meters: [{ meter: 'x', unit: 'u', unitPrice: 1.5 }] }, 'invalid_type'],
      [{ currency: 'EUR', meters: [{ meter: 'x', unit: 'u', unitPrice: -1 }] }, 'invalid_request'],
      [{ currency: 'EUR', meters: [{ meter: 'x', unit: 'u', unitPrice: 1e300 }] }, 'invalid_request'],
      [{ currency: 'EUR', meters: [{ meter: 'x', unit: 'u', unitPrice: 1, per: 0 }] }, 'invalid_request'],
      [{ currency: 'EUR', meters: [{ meter: 'x', unit: 'u', unitPrice: '1' }] }, 'invalid_type'],
      [
        {
          currency: 'EUR',
          meters: [
            { meter: 'x', unit: 'u', unitPrice: 1 },
            { meter: 'x', unit: 'u', unitPrice: 2 },
          ],
        },
        'invalid_request',
      ],
      [
        { currency: 'EUR', meters: [{ meter: 'resource.storage.x', unit: 'u', unitPrice: 1 }] },
        'unknown_meter',
      ],
    ];
    for (const [body, code] of hostile) {
      const res = await send('operator', 'operator', 'PUT', '/v1/billing/prices', body);
      expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, res.body).toBeLessThan(500);
      expect(res.json<{ code: string }>().code, JSON.stringify(body)).toBe(code);
    }
    // An override for an unknown domain is the unknown-id 404, and the book stays as it was.
    const unknownDomain = await send('operator', 'operator', 'PUT', '/v1/billing/prices', {
      currency: 'EUR',
      meters: [
        {
          meter: 'x',
          unit: 'u',
          unitPrice: 1,
          overrides: [{ domainId: 'dom_00000000000000000000000000', unitPrice: 0 }],
        },
      ],
    });
    expect(unknownDomain.statusCode).toBe(404);
    expect((await send('operator', 'operator', 'GET', '/v1/billing/prices')).json()).toEqual(set.json());
  });

  it('counts usage once per event id, for the credential’s own domain only', async () => {
    const at = pastMonth.toISOString();
    const first = await usage(aBilling, { meter: 'api.calls', quantity: 1234, eventId: 'a-1', at });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ recorded: true, quantity: 1234 });
    const retry = await usage(aBilling, { meter: 'api.calls', quantity: 1234, eventId: 'a-1', at });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toMatchObject({ recorded: false });
    const conflict = await usage(aBilling, { meter: 'api.calls', quantity: 9, eventId: 'a-1', at });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json<{ code: string }>().code).toBe('idempotency_conflict');
    expect((await usage(aBilling, { meter: 'emails', quantity: 3, eventId: 'a-2', at })).statusCode).toBe(
      201,
    );
    // B uses the same event id: it is B's own, and counts for B.
    expect((await usage(bBilling, { meter: 'emails', quantity: 5, eventId: 'a-1', at })).statusCode).toBe(
      201,
    );
    // The operator records for a domain too.
    const byOperator = await send('operator', 'operator', 'POST', `/v1/domains/${b.id}/usage`, {
      meter: 'api.calls',
      quantity: 50,
      eventId: 'op-1',
      at,
    });
    expect(byOperator.statusCode, byOperator.body).toBe(201);

    for (const [body, status, code] of [
      [{ meter: 'nope', quantity: 1, eventId: 'x', at }, 400, 'unknown_meter'],
      [{ meter: 'resource.storage', quantity: 1, eventId: 'x', at }, 400, 'unknown_meter'],
      [{ meter: 'emails', quantity: -1, eventId: 'x', at }, 400, 'invalid_request'],
      [{ meter: 'emails', quantity: 0.5, eventId: 'x', at }, 400, 'invalid_type'],
      [{ meter: 'emails', quantity: 2 ** 60, eventId: 'x', at }, 400, 'invalid_request'],
      [{ meter: 'emails', quantity: 1, eventId: '', at }, 400, 'invalid_request'],
      [{ meter: 'emails', quantity: 1, eventId: 'x', at: 'yesterday' }, 400, 'invalid_timestamp'],
      [{ meter: 'emails', quantity: 1, eventId: 'x', at: '9999-01-01T00:00:00Z' }, 400, 'invalid_request'],
      [{ meter: 'emails', quantity: 1, eventId: 'x', at, domainId: b.id }, 400, 'unknown_field'],
    ] as const) {
      const res = await usage(aBilling, body);
      expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(status);
      expect(res.json<{ code: string }>().code, JSON.stringify(body)).toBe(code);
    }
    // A key without `usage:write` (the default key holds no billing scope) is refused inside its domain.
    const unscoped = await usage(a, { meter: 'emails', quantity: 1, eventId: 'x', at });
    expect(unscoped.statusCode).toBe(403);
    expect(unscoped.json<{ code: string }>().code).toBe('scope_denied');
    // Tokens and sessions carry no scope that says they may record.
    for (const credential of ['token', 'session'] as const) {
      const res = await send(a, credential, 'POST', `/v1/domains/${a.id}/usage`, {
        meter: 'emails',
        quantity: 1,
        eventId: 'x',
        at,
      });
      expect(res.statusCode).toBe(403);
    }
  });

  it("answers A's credentials on B's usage exactly as on an unknown domain, and B's usage stays as it was", async () => {
    const before = await domainState(services, b.id);
    const at = pastMonth.toISOString();
    const unknown = 'dom_00000000000000000000000000';
    const foreign = await usage(aBilling, { meter: 'emails', quantity: 1000, eventId: 'smuggled', at }, b.id);
    const absent = await usage(
      aBilling,
      { meter: 'emails', quantity: 1000, eventId: 'smuggled', at },
      unknown,
    );
    expect(foreign.statusCode).toBe(404);
    expect(comparable(foreign)).toEqual(comparable(absent));
    const range = `from=${encodeURIComponent(new Date(0).toISOString())}&to=${encodeURIComponent(now.toISOString())}`;
    for (const [tenant, credential] of [
      [aBilling, 'key'],
      [a, 'token'],
      [a, 'session'],
    ] as const) {
      const res = await send(tenant, credential, 'GET', `/v1/domains/${b.id}/usage?${range}`);
      const none = await send(tenant, credential, 'GET', `/v1/domains/${unknown}/usage?${range}`);
      expect(res.statusCode, res.body).toBe(404);
      expect(comparable(res)).toEqual(comparable(none));
    }
    expect(await domainState(services, b.id)).toEqual(before);
    // A's own view holds A's usage only, per day and meter.
    const own = await send(aBilling, 'key', 'GET', `/v1/domains/me/usage?${range}`);
    expect(own.statusCode, own.body).toBe(200);
    const day = pastMonth.toISOString().slice(0, 10);
    expect(own.json()).toEqual({
      items: [
        { day, meter: 'api.calls', quantity: 1234 },
        { day, meter: 'emails', quantity: 3 },
      ],
    });
    const oneMeter = await send(a, 'token', 'GET', `/v1/domains/${a.id}/usage?${range}&meter=emails`);
    expect(oneMeter.json()).toEqual({ items: [{ day, meter: 'emails', quantity: 3 }] });
    const reversed = await send(
      a,
      'token',
      'GET',
      `/v1/domains/${a.id}/usage?from=${now.toISOString()}&to=${new Date(0).toISOString()}`,
    );
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json<{ code: string }>().code).toBe('invalid_request');
  });

  it('closes a period into one invoice per domain with exactly its own usage, and a second close writes nothing', async () => {
    const open = await send('operator', 'operator', 'POST', `/v1/billing/periods/${periodOf(now)}/close`);
    expect(open.statusCode).toBe(409);
    expect(open.json<{ code: string }>().code).toBe('period_open');
    for (const bad of ['2026-13', '26-01', '0000-01', 'latest']) {
      const res = await send('operator', 'operator', 'POST', `/v1/billing/periods/${bad}/close`);
      expect(res.statusCode, bad).toBe(400);
    }
    const tenantClose = await send(a, 'token', 'POST', `/v1/billing/periods/${period}/close`);
    expect(tenantClose.statusCode).toBe(403);

    const close = await send('operator', 'operator', 'POST', `/v1/billing/periods/${period}/close`);
    expect(close.statusCode, close.body).toBe(200);
    expect(close.json()).toEqual({ period, created: 2, existing: 0 });
    const again = await send('operator', 'operator', 'POST', `/v1/billing/periods/${period}/close`);
    expect(again.json()).toEqual({ period, created: 0, existing: 2 });
    // One domain's close finds its invoice written too; an unknown domain is the unknown-id 404.
    const one = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/${b.id}/billing/periods/${period}/close`,
    );
    expect(one.json()).toEqual({ period, created: 0, existing: 1 });
    const unknownDomain = await send(
      'operator',
      'operator',
      'POST',
      `/v1/domains/dom_00000000000000000000000000/billing/periods/${period}/close`,
    );
    expect(unknownDomain.statusCode).toBe(404);
    const byTenant = await send(a, 'token', 'POST', `/v1/domains/${a.id}/billing/periods/${period}/close`);
    expect(byTenant.statusCode).toBe(403);

    const list = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices`);
    expect(list.statusCode, list.body).toBe(200);
    const items = list.json<{ items: Invoice[] }>().items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ domainId: a.id, number: 1, period, currency: 'EUR', status: 'open' });
    const invoiceA = (
      await send(a, 'session', 'GET', `/v1/domains/${a.id}/invoices/${items[0]!.id}`)
    ).json<Invoice>();
    // api.calls: 1234 − 100 included = 1134 × 3 / 10 = 340.2 → 340; emails: 3 × 25 = 75.
    expect(invoiceA.lines).toEqual([
      expect.objectContaining({
        meter: 'api.calls',
        quantity: 1234,
        included: 100,
        billable: 1134,
        amount: 340,
      }),
      expect.objectContaining({ meter: 'emails', quantity: 3, included: 0, billable: 3, amount: 75 }),
    ]);
    expect(invoiceA.total).toBe(415);
    expect(invoiceA.subtotal).toBe(415);

    const invoiceB = (await send(bBilling, 'key', 'GET', `/v1/domains/${b.id}/invoices`)).json<{
      items: Invoice[];
    }>().items[0]!;
    const fullB = (
      await send(b, 'token', 'GET', `/v1/domains/${b.id}/invoices/${invoiceB.id}`)
    ).json<Invoice>();
    // B's own override for emails (10 each after 2 included); its api.calls at the book's price.
    expect(fullB.lines).toEqual([
      expect.objectContaining({ meter: 'api.calls', quantity: 50, included: 50, billable: 0, amount: 0 }),
      expect.objectContaining({ meter: 'emails', quantity: 5, included: 2, billable: 3, amount: 30 }),
    ]);
    expect(fullB.number).toBe(1);
    expect(JSON.stringify(fullB)).not.toContain(a.id);

    // Usage of a closed period is refused; the invoice stays as it was.
    const late = await usage(aBilling, {
      meter: 'emails',
      quantity: 1,
      eventId: 'late',
      at: pastMonth.toISOString(),
    });
    expect(late.statusCode).toBe(409);
    expect(late.json<{ code: string }>().code).toBe('period_closed');
    const later = (
      await send(a, 'token', 'GET', `/v1/domains/${a.id}/invoices/${invoiceA.id}`)
    ).json<Invoice>();
    expect(later).toEqual(invoiceA);
  });

  it("answers A's credentials on B's invoices exactly as on unknown ones, and B's invoice stays as it was", async () => {
    const bInvoice = (await send(bBilling, 'key', 'GET', `/v1/domains/${b.id}/invoices`)).json<{
      items: Invoice[];
    }>().items[0]!;
    const unknownInvoice = 'inv_00000000000000000000000000';
    const before = await domainState(services, b.id);
    for (const [tenant, credential] of [
      [aBilling, 'key'],
      [a, 'token'],
      [a, 'session'],
    ] as const) {
      for (const [foreignUrl, unknownUrl] of [
        [`/v1/domains/${b.id}/invoices/${bInvoice.id}`, `/v1/domains/${a.id}/invoices/${unknownInvoice}`],
        [`/v1/domains/${b.id}/invoices`, `/v1/domains/dom_00000000000000000000000000/invoices`],
        // B's invoice id under A's own domain is unknown there.
        [`/v1/domains/${a.id}/invoices/${bInvoice.id}`, `/v1/domains/${a.id}/invoices/${unknownInvoice}`],
      ] as const) {
        const foreign = await send(tenant, credential, 'GET', foreignUrl);
        const unknown = await send(tenant, credential, 'GET', unknownUrl);
        expect(foreign.statusCode, `${credential} ${foreignUrl}: ${foreign.body}`).toBe(404);
        expect(comparable(foreign)).toEqual(comparable(unknown));
        expect(foreign.body).not.toContain(bInvoice.id);
      }
      const pay = await send(tenant, credential, 'POST', `/v1/domains/${b.id}/invoices/${bInvoice.id}/pay`, {
        reference: 'smuggled',
      });
      expect([401, 403]).toContain(pay.statusCode);
    }
    expect(await domainState(services, b.id)).toEqual(before);
  });

  it('moves an invoice open → paid by the operator, refuses what its status does not allow, and audits it', async () => {
    const invoice = (await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices`)).json<{
      items: Invoice[];
    }>().items[0]!;
    const url = `/v1/domains/${a.id}/invoices/${invoice.id}`;
    for (const credential of ['key', 'token', 'session'] as const) {
      const res = await send(a, credential, 'POST', `${url}/pay`, { reference: 'self-paid' });
      expect([401, 403], res.body).toContain(res.statusCode);
    }
    const noReference = await send('operator', 'operator', 'POST', `${url}/pay`, {});
    expect(noReference.statusCode).toBe(400);
    expect(noReference.json<{ code: string }>().code).toBe('missing_field');
    const paid = await send('operator', 'operator', 'POST', `${url}/pay`, { reference: 'SEPA 2026-0042' });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toMatchObject({ status: 'paid', paymentReference: 'SEPA 2026-0042', total: 415 });
    for (const action of ['pay', 'void', 'uncollectible']) {
      const res = await send(
        'operator',
        'operator',
        'POST',
        `${url}/${action}`,
        action === 'pay' ? { reference: 'twice' } : undefined,
      );
      expect(res.statusCode, `${action}: ${res.body}`).toBe(409);
      expect(res.json<{ code: string }>().code).toBe('invoice_status');
    }
    const bInvoice = (await send(bBilling, 'key', 'GET', `/v1/domains/${b.id}/invoices`)).json<{
      items: Invoice[];
    }>().items[0]!;
    const bUrl = `/v1/domains/${b.id}/invoices/${bInvoice.id}`;
    expect((await send('operator', 'operator', 'POST', `${bUrl}/uncollectible`)).json()).toMatchObject({
      status: 'uncollectible',
    });
    expect((await send('operator', 'operator', 'POST', `${bUrl}/void`)).json()).toMatchObject({
      status: 'void',
    });
    const audit = await send(
      'operator',
      'operator',
      'GET',
      `/v1/audit?domainId=${a.id}&action=invoice.status`,
    );
    expect(audit.json<{ items: { target: string; detail: unknown }[] }>().items).toEqual([
      expect.objectContaining({
        target: invoice.id,
        detail: { from: 'open', to: 'paid', reference: 'SEPA 2026-0042' },
      }),
    ]);
  });

  it('numbers each domain’s invoices on their own, and finds a closed invoice changed in the database', async () => {
    await usage(aBilling, {
      meter: 'emails',
      quantity: 7,
      eventId: 'next-month',
      at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 2)).toISOString(),
    });
    const close = await send('operator', 'operator', 'POST', `/v1/billing/periods/${laterPeriod}/close`);
    expect(close.statusCode, close.body).toBe(200);
    const items = (await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices`)).json<{
      items: Invoice[];
    }>().items;
    expect(items.map((i) => [i.number, i.period])).toEqual([
      [2, laterPeriod],
      [1, period],
    ]);
    const page = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices?limit=1&before=2`);
    expect(page.json<{ items: Invoice[] }>().items.map((i) => i.number)).toEqual([1]);

    const verify = () => send('operator', 'operator', 'GET', '/v1/audit/verify');
    expect((await verify()).json()).toMatchObject({ ok: true });
    // The application role cannot change what an invoice says: only its status columns are granted.
    await expect(
      services.store.withDomain(a.id, (tx) =>
        sql`UPDATE invoice_lines SET amount = 0 WHERE domain_id = ${a.id}`.execute(tx),
      ),
    ).rejects.toThrow(/permission denied/);
    // The owner can; the audit check finds it at the invoice's closing event.
    await asOwner(services.store, (tx) =>
      sql`UPDATE invoice_lines SET amount = amount + 1 WHERE invoice_id = ${items[0]!.id}`.execute(tx),
    );
    const report = (await verify()).json<{ ok: boolean; broken?: { reason: string; eventId: string } }>();
    expect(report.ok).toBe(false);
    expect(report.broken?.reason).toBe('invoice_mismatch');
    const closing = await send(
      'operator',
      'operator',
      'GET',
      `/v1/audit?domainId=${a.id}&action=invoice.close`,
    );
    const event = closing
      .json<{ items: { id: string; target: string }[] }>()
      .items.find((e) => e.target === items[0]!.id);
    expect(report.broken?.eventId).toBe(event?.id);
    await asOwner(services.store, (tx) =>
      sql`UPDATE invoice_lines SET amount = amount - 1 WHERE invoice_id = ${items[0]!.id}`.execute(tx),
    );
    expect((await verify()).json()).toMatchObject({ ok: true });
  });

  it("meters a resource's time from ready to deleted, to the second, to its own domain", async () => {
    const created = await send(a, 'key', 'POST', `/v1/domains/${a.id}/resources`, {
      kind: 'storage',
      name: 'meter',
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const show = async () =>
      (await send(a, 'key', 'GET', `/v1/domains/${a.id}/resources/${id}`)).json<{
        status: string;
        readyAt: string | null;
        deletedAt: string | null;
      }>();
    for (let i = 0; i < 100 && (await show()).status !== 'ready'; i++)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send(a, 'key', 'DELETE', `/v1/domains/${a.id}/resources/${id}`)).statusCode).toBeLessThan(
      300,
    );
    const ready = await asOwner(services.store, (tx) =>
      sql<{
        ready_at: Date;
        deleted_at: Date | null;
      }>`SELECT ready_at, deleted_at FROM resources WHERE id = ${id}`.execute(tx),
    );
    let row = ready.rows[0]!;
    for (let i = 0; i < 100 && row.deleted_at === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      row = (
        await asOwner(services.store, (tx) =>
          sql<{
            ready_at: Date;
            deleted_at: Date | null;
          }>`SELECT ready_at, deleted_at FROM resources WHERE id = ${id}`.execute(tx),
        )
      ).rows[0]!;
    }
    expect(row.deleted_at).not.toBeNull();
    // The current month, closed as if it had ended (the API closes only months that have).
    const current = periodOf(now);
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const result = await services.billing.closePeriod({ actor: 'test', requestId: null }, current, nextMonth);
    expect(result.created).toBeGreaterThanOrEqual(2);
    const aInvoice = (await services.billing.invoices(a.id, { limit: 1 }))[0]!;
    const full = await services.billing.invoice(a.id, aInvoice.id);
    const measured = await asOwner(services.store, (tx) =>
      sql<{
        s: number;
      }>`SELECT floor(extract(epoch FROM deleted_at - ready_at))::int AS s FROM resources WHERE id = ${id}`.execute(
        tx,
      ),
    );
    const seconds = measured.rows[0]!.s;
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(full.lines).toEqual([
      expect.objectContaining({
        meter: 'resource.storage',
        quantity: seconds,
        amount: Math.floor((seconds * 2 + 3600) / 7200),
      }),
    ]);
    const bInvoice = (await services.billing.invoices(b.id, { limit: 1 }))[0]!;
    expect((await services.billing.invoice(b.id, bInvoice.id)).lines).toEqual([]);
  });
});
