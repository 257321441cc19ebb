// A deleted domain's invoices on both stores: kept after the deletion and read by the operator alone
// (another domain's credentials get the unknown id's 404, the deleted domain's own credentials are
// refused), then purged with their lines and payment attempts once the retention period has passed,
// each purge audited and accounted for by `audit verify`. The database itself refuses to delete a live
// domain's invoice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../../src/audit/log.js';
import { periodOf } from '../../src/billing/periods.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { deleteDomainInvoices } from '../../src/store/repositories/billing.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { assertBuilt, killAll, startServer, tempDir } from '../helpers/processes.js';
import {
  comparable,
  createTenant,
  credentialHeaders,
  domainState,
  type CredentialName,
  type Tenant,
} from '../helpers/tenants.js';

const operatorToken = 'retention-test-operator-token-0123456789abcdef';
const retentionMs = 60_000;
const now = new Date();
const month = (back: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 10, 12));
const periods = [periodOf(month(3)), periodOf(month(2))];

describe('BULKHEAD_INVOICE_RETENTION', () => {
  it('defaults to ten years of 366 days, takes years or a duration, and refuses anything else', () => {
    expect(loadConfig({}).invoiceRetention).toBe(10 * 366 * 86_400_000);
    expect(loadConfig({ BULKHEAD_INVOICE_RETENTION: '7y' }).invoiceRetention).toBe(7 * 366 * 86_400_000);
    expect(loadConfig({ BULKHEAD_INVOICE_RETENTION: '30d' }).invoiceRetention).toBe(30 * 86_400_000);
    expect(loadConfig({ BULKHEAD_INVOICE_RETENTION: '90s' }).invoiceRetention).toBe(90_000);
    for (const bad of ['10', 'ten years', '0s', '101y', '1y6m', '-1d', '10 y'])
      expect(() => loadConfig({ BULKHEAD_INVOICE_RETENTION: bad }), bad).toThrow(
        new ConfigError(
          'invalid configuration: BULKHEAD_INVOICE_RETENTION must be a retention period from 1s to 100y, e.g. 10y, 3650d',
        ),
      );
  });
});

describe.each(backends)("a deleted domain's invoices on $name", (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
  let bInvoices: { id: string; period: string }[];

  const send = (
    who: Tenant | 'operator',
    credential: CredentialName | 'operator',
    method: string,
    url: string,
  ) =>
    app.inject({
      method: method as 'GET',
      url,
      headers:
        who === 'operator'
          ? { authorization: `Bearer ${operatorToken}` }
          : credentialHeaders(who, credential, operatorToken, method),
    });

  const withInvoiceKey = async (tenant: Tenant): Promise<Tenant> => {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${tenant.id}/keys`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { scopes: ['invoices:read'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    return { ...tenant, key: res.json<{ key: string }>().key };
  };

  const rowsOf = (domainId: string) =>
    asOwner(services.store, async (tx) => ({
      invoices: await tx.selectFrom('invoices').select('id').where('domain_id', '=', domainId).execute(),
      lines: await tx
        .selectFrom('invoice_lines')
        .select('invoice_id')
        .where('domain_id', '=', domainId)
        .execute(),
      payments: await tx
        .selectFrom('invoice_payments')
        .select('invoice_id')
        .where('domain_id', '=', domainId)
        .execute(),
    }));

  beforeAll(async () => {
    services = await openTestServices(backend, { invoiceRetentionMs: retentionMs });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await withInvoiceKey(await createTenant(app, operatorToken, `ret-a-${backend.name}-${process.pid}`));
    b = await withInvoiceKey(await createTenant(app, operatorToken, `ret-b-${backend.name}-${process.pid}`));
    const book = await app.inject({
      method: 'PUT',
      url: '/v1/billing/prices',
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { currency: 'EUR', meters: [{ meter: 'calls', unit: 'call', unitPrice: 3 }] },
    });
    expect(book.statusCode, book.body).toBe(200);
    for (const [tenant, quantity] of [
      [a, 10],
      [b, 20],
    ] as const)
      for (const [i, back] of [3, 2].entries()) {
        const res = await app.inject({
          method: 'POST',
          url: `/v1/domains/${tenant.id}/usage`,
          headers: { authorization: `Bearer ${operatorToken}` },
          payload: {
            meter: 'calls',
            quantity: quantity + i,
            eventId: `r-${i}`,
            at: month(back).toISOString(),
          },
        });
        expect(res.statusCode, res.body).toBe(201);
      }
    for (const period of periods) {
      const close = await send('operator', 'operator', 'POST', `/v1/billing/periods/${period}/close`);
      expect(close.statusCode, close.body).toBe(200);
    }
    bInvoices = (await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/invoices`)).json<{
      items: { id: string; period: string }[];
    }>().items;
    expect(bInvoices).toHaveLength(2);
    // A payment attempt of B's, as a charge records it, so the purge is seen to take those too.
    await asOwner(services.store, (tx) =>
      tx
        .insertInto('invoice_payments')
        .values({
          invoice_id: bInvoices[0]!.id,
          attempt: 1,
          domain_id: b.id,
          idempotency_key: bInvoices[0]!.id,
          payment_intent_id: null,
          status: 'pending',
          failure_code: null,
          created_at: new Date(),
          updated_at: new Date(),
        })
        .execute(),
    );
    const deleted = await send('operator', 'operator', 'DELETE', `/v1/domains/${b.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('keeps them readable by the operator, and by no domain credential', async () => {
    const invoice = bInvoices[0]!;
    const list = await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/invoices`);
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: { id: string }[] }>().items.map((i) => i.id)).toEqual(
      bInvoices.map((i) => i.id),
    );
    const one = await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/invoices/${invoice.id}`);
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json<{ lines: unknown[] }>().lines).toHaveLength(1);
    const pdf = await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/invoices/${invoice.id}.pdf`);
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');

    const before = await domainState(services, b.id);
    const unknownInvoice = 'inv_00000000000000000000000000';
    for (const credential of ['key', 'token', 'session'] as const) {
      // A's credentials: B's invoices answer exactly like unknown ones.
      for (const [foreignUrl, unknownUrl] of [
        [`/v1/domains/${b.id}/invoices`, '/v1/domains/dom_00000000000000000000000000/invoices'],
        [`/v1/domains/${b.id}/invoices/${invoice.id}`, `/v1/domains/${a.id}/invoices/${unknownInvoice}`],
        [
          `/v1/domains/${b.id}/invoices/${invoice.id}.pdf`,
          `/v1/domains/${a.id}/invoices/${unknownInvoice}.pdf`,
        ],
        [`/v1/domains/${a.id}/invoices/${invoice.id}`, `/v1/domains/${a.id}/invoices/${unknownInvoice}`],
      ]) {
        const foreign = await send(a, credential, 'GET', foreignUrl!);
        const unknown = await send(a, credential, 'GET', unknownUrl!);
        expect(foreign.statusCode, `${credential} ${foreignUrl}: ${foreign.body}`).toBe(404);
        expect(comparable(foreign)).toEqual(comparable(unknown));
      }
      // B's own credentials died with B: refused before any invoice is looked at.
      for (const url of [
        `/v1/domains/${b.id}/invoices`,
        `/v1/domains/me/invoices`,
        `/v1/domains/${b.id}/invoices/${invoice.id}`,
        `/v1/domains/${b.id}/invoices/${invoice.id}.pdf`,
      ]) {
        const own = await send(b, credential, 'GET', url);
        expect(own.statusCode, `${credential} ${url}: ${own.body}`).toBe(401);
        expect(own.body).not.toContain(invoice.id);
      }
    }
    expect(await domainState(services, b.id)).toEqual(before);
  });

  it('lets the database delete the invoices of a deleted domain only', async () => {
    const before = await rowsOf(a.id);
    expect(before.invoices).toHaveLength(2);
    // The application role, in A's own transaction, asks to delete A's invoices: the policy of 0025
    // lets no row of a live domain go.
    await expect(services.store.withDomain(a.id, (tx) => deleteDomainInvoices(tx, a.id))).resolves.toBe(0);
    expect(await rowsOf(a.id)).toEqual(before);
  });

  it('purges them after the retention period, with their lines and payments, and audits each purge', async () => {
    // Within the retention period nothing goes.
    expect(await services.billing.purgeExpiredInvoices(new Date(Date.now() + retentionMs - 5_000))).toBe(0);
    expect((await rowsOf(b.id)).invoices).toHaveLength(2);
    const aBefore = await rowsOf(a.id);

    expect(await services.billing.purgeExpiredInvoices(new Date(Date.now() + retentionMs + 1_000))).toBe(2);
    expect(await rowsOf(b.id)).toEqual({ invoices: [], lines: [], payments: [] });
    // A live domain's invoices stay, whatever their age.
    expect(await rowsOf(a.id)).toEqual(aBefore);
    // Nothing is left to purge the next time.
    expect(await services.billing.purgeExpiredInvoices(new Date(Date.now() + retentionMs + 1_000))).toBe(0);

    const list = await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/invoices`);
    expect(list.json()).toEqual({ items: [], next: null });
    const gone = await send(
      'operator',
      'operator',
      'GET',
      `/v1/domains/${b.id}/invoices/${bInvoices[0]!.id}`,
    );
    expect(gone.statusCode).toBe(404);

    const purges = await services.store.system('audit', (tx) =>
      listAudit(tx, { domainId: b.id, action: 'invoice.purge', limit: 10 }),
    );
    expect(purges.map((e) => e.target).sort()).toEqual(bInvoices.map((i) => i.id).sort());
    expect(purges[0]).toMatchObject({ actor: 'system:billing', outcome: 'success' });
    // The chain accounts for the purged invoices: their close events no longer need them.
    const report = await services.store.system('audit', verifyAudit);
    expect(report.ok, JSON.stringify(report.broken)).toBe(true);
  });
});

describe('bulkhead serve purging on its reconciler', () => {
  const dir = tempDir('bulkhead-retention-');
  afterAll(async () => {
    await killAll();
    dir.remove();
  });

  it("purges a deleted domain's invoices once BULKHEAD_INVOICE_RETENTION has passed", async () => {
    assertBuilt();
    const server = await startServer(
      ['--data-dir', dir.path, 'serve', '--port', '0', '--log-level', 'warn'],
      {
        env: {
          BULKHEAD_OPERATOR_TOKEN: operatorToken,
          BULKHEAD_INVOICE_RETENTION: '2s',
          BULKHEAD_RECONCILE_SECONDS: '1',
          BULKHEAD_BILLING_CLOSE_AFTER: 'off',
        },
        timeoutMs: 90_000,
      },
    );
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${operatorToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const created = await api('POST', '/v1/domains', { slug: 'retained', name: 'retained' });
    expect(created.status).toBe(201);
    const id = created.json['id'] as string;
    expect((await api('POST', `/v1/domains/${id}/billing/periods/${periods[1]}/close`)).status).toBe(200);
    const invoices = (await api('GET', `/v1/domains/${id}/invoices`)).json['items'] as { id: string }[];
    expect(invoices).toHaveLength(1);
    expect((await api('DELETE', `/v1/domains/${id}`)).status).toBe(200);
    // Readable right after the deletion, gone a few reconciler rounds after the retention period.
    expect((await api('GET', `/v1/domains/${id}/invoices`)).json['items']).toHaveLength(1);
    const until = Date.now() + 20_000;
    let left = 1;
    while (left > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      left = ((await api('GET', `/v1/domains/${id}/invoices`)).json['items'] as unknown[]).length;
    }
    expect(left).toBe(0);
    const audit = await api('GET', `/v1/audit?domainId=${id}&action=invoice.purge`);
    expect(audit.json['items']).toMatchObject([{ target: invoices[0]!.id, actor: 'system:billing' }]);
    expect((await api('GET', '/v1/audit/verify')).json).toMatchObject({ ok: true });
  }, 120_000);
});
