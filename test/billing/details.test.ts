// Billing details and invoice PDFs on both stores: each domain sets and reads its own details, every bad
// value is a precise 400, A's credentials on B's details answer like an unknown domain and leave B's as
// they were; an invoice's PDF shows the platform, the domain's own name, address and lines, and nothing
// of another domain's (read back from the PDF's text), and B's invoice PDF with A's credential is the
// unknown id's 404.
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOf } from '../../src/billing/periods.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import {
  comparable,
  createTenant,
  credentialHeaders,
  domainState,
  type CredentialName,
  type Tenant,
} from '../helpers/tenants.js';

const operatorToken = 'billing-details-operator-token-0123456789';
const op = { authorization: `Bearer ${operatorToken}` };
const unknownDomain = 'dom_00000000000000000000000000';

const now = new Date();
const pastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 15, 12));
const period = periodOf(pastMonth);

const detailsOf = (name: string, city: string) => ({
  name,
  addressLines: [`1 ${city} Street`, 'Floor 2'],
  city,
  postalCode: '10115',
  country: 'DE',
  email: `billing@${city.toLowerCase()}.example`,
  taxId: 'DE123456789',
});

/** The text of every page of a PDF, one item a line, as a reader would extract it. */
async function pdfText(bytes: Buffer): Promise<string> {
  const doc = await getDocument({ data: new Uint8Array(bytes), verbosity: 0, isEvalSupported: false })
    .promise;
  const parts: string[] = [];
  for (let page = 1; page <= doc.numPages; page++) {
    const content = await (await doc.getPage(page)).getTextContent();
    for (const item of content.items) if ('str' in item) parts.push(item.str);
  }
  await doc.destroy();
  return parts.join('\n');
}

describe.each(backends)('billing details and invoice PDFs on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
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

  const scopedKey = async (tenant: Tenant, scopes: string[]) => {
    const res = await send('operator', 'operator', 'POST', `/v1/domains/${tenant.id}/keys`, { scopes });
    expect(res.statusCode, res.body).toBe(201);
    return { ...tenant, key: res.json<{ key: string }>().key };
  };

  beforeAll(async () => {
    providers = await openTestProviders();
    services = await openTestServices(backend, {
      providers: providers.providers,
      billingPlatformName: 'Acme Cloud GmbH',
    });
    providers.bind(services.keyring);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await createTenant(app, operatorToken, `bd-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `bd-b-${backend.name}-${process.pid}`);
    aBilling = await scopedKey(a, ['billing:read', 'billing:write', 'invoices:read', 'usage:write']);
    bBilling = await scopedKey(b, ['billing:read', 'billing:write', 'invoices:read', 'usage:write']);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('sets and reads each domain’s own details, with the scopes they need', async () => {
    const none = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/billing`);
    expect(none.statusCode, none.body).toBe(404);
    const set = await send(
      aBilling,
      'key',
      'PUT',
      `/v1/domains/me/billing`,
      detailsOf('Alpha Widgets Ltd', 'Aachen'),
    );
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ domainId: a.id, ...detailsOf('Alpha Widgets Ltd', 'Aachen') });
    const byOperator = await send('operator', 'operator', 'PUT', `/v1/domains/${b.id}/billing`, {
      ...detailsOf('Bravo Ünïcorn Säles', 'Bremen'),
      taxId: null,
    });
    expect(byOperator.statusCode, byOperator.body).toBe(200);
    expect(byOperator.json<{ taxId: unknown }>().taxId).toBeNull();
    const bSet = await send(
      bBilling,
      'key',
      'PUT',
      `/v1/domains/${b.id}/billing`,
      detailsOf('Bravo Ünïcorn Säles', 'Bremen'),
    );
    expect(bSet.statusCode, bSet.body).toBe(200);
    for (const credential of ['token', 'session'] as const) {
      const read = await send(a, credential, 'GET', `/v1/domains/${a.id}/billing`);
      expect(read.statusCode, read.body).toBe(200);
      expect(read.json()).toEqual(set.json());
      // Tokens and sessions carry no scope that says they may change billing.
      const write = await send(a, credential, 'PUT', `/v1/domains/${a.id}/billing`, detailsOf('X', 'Y'));
      expect(write.statusCode).toBe(403);
    }
    // A key issued without scopes holds no billing scope; one with `billing:read` alone cannot write.
    const unscoped = await send(a, 'key', 'GET', `/v1/domains/${a.id}/billing`);
    expect(unscoped.statusCode).toBe(403);
    expect(unscoped.json<{ code: string }>().code).toBe('scope_denied');
    const readOnly = await scopedKey(a, ['billing:read']);
    expect((await send(readOnly, 'key', 'GET', `/v1/domains/${a.id}/billing`)).statusCode).toBe(200);
    const refused = await send(readOnly, 'key', 'PUT', `/v1/domains/${a.id}/billing`, detailsOf('X', 'Y'));
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ code: string }>().code).toBe('scope_denied');
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${a.id}/billing`)).json()).toEqual(
      set.json(),
    );
    // The operator naming a domain that does not exist gets the unknown-id 404.
    const ghost = await send(
      'operator',
      'operator',
      'PUT',
      `/v1/domains/${unknownDomain}/billing`,
      detailsOf('X', 'Y'),
    );
    expect(ghost.statusCode, ghost.body).toBe(404);
  });

  it('refuses every bad value with a precise 400 and changes nothing', async () => {
    const good = detailsOf('Alpha Widgets Ltd', 'Aachen');
    const before = await domainState(services, a.id);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...good, name: '' }, 'invalid_request', '/body/name'],
      [{ ...good, name: ' Alpha' }, 'invalid_request', '/body/name'],
      [{ ...good, name: 'Alpha ' }, 'invalid_request', '/body/name'],
      [{ ...good, name: 'A\u0000B' }, 'invalid_request', '/body/name'],
      [{ ...good, name: 'A\nB' }, 'invalid_request', '/body/name'],
      [{ ...good, name: 'Αλφα' }, 'invalid_request', '/body/name'],
      [{ ...good, name: 'x'.repeat(201) }, 'text_too_long', '/body/name'],
      [{ ...good, name: 42 }, 'invalid_type', '/body/name'],
      [{ ...good, addressLines: [] }, 'invalid_request', '/body/addressLines'],
      [{ ...good, addressLines: ['a', 'b', 'c', 'd', 'e'] }, 'invalid_request', '/body/addressLines'],
      [{ ...good, addressLines: ['ok', '\u202e'] }, 'invalid_request', '/body/addressLines/1'],
      [{ ...good, addressLines: 'Main Street 1' }, 'invalid_type', '/body/addressLines'],
      [{ ...good, city: '' }, 'invalid_request', '/body/city'],
      [{ ...good, postalCode: '10115!' }, 'invalid_request', '/body/postalCode'],
      [{ ...good, postalCode: '' }, 'invalid_request', '/body/postalCode'],
      [{ ...good, country: 'de' }, 'invalid_request', '/body/country'],
      [{ ...good, country: 'DEU' }, 'text_too_long', '/body/country'],
      [{ ...good, email: 'not an email' }, 'invalid_request', '/body/email'],
      [{ ...good, email: `${'x'.repeat(250)}@example.com` }, 'text_too_long', '/body/email'],
      [{ ...good, taxId: 'DE 123;' }, 'invalid_request', '/body/taxId'],
      [{ ...good, domainId: b.id }, 'unknown_field', ''],
    ];
    for (const [body, code, path] of cases) {
      const res = await send(aBilling, 'key', 'PUT', `/v1/domains/${a.id}/billing`, body);
      const label = `${JSON.stringify(body).slice(0, 120)}: ${res.body}`;
      expect(res.statusCode, label).toBe(400);
      const problem = res.json<{ code: string; errors?: { path: string }[] }>();
      expect(problem.code, label).toBe(code);
      if (path !== '')
        expect(
          problem.errors?.map((e) => e.path),
          label,
        ).toContain(path);
    }
    for (const { country } of [{ country: 'XX' }, { country: 'ZZ' }, { country: 'EU' }]) {
      const res = await send(aBilling, 'key', 'PUT', `/v1/domains/${a.id}/billing`, { ...good, country });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<{ code: string; detail: string }>()).toMatchObject({ code: 'invalid_request' });
      expect(res.json<{ detail: string }>().detail).toContain('country');
    }
    for (const missing of ['name', 'addressLines', 'city', 'postalCode', 'country', 'email']) {
      const { [missing]: _gone, ...body } = good as Record<string, unknown>;
      const res = await send(aBilling, 'key', 'PUT', `/v1/domains/${a.id}/billing`, body);
      expect(res.statusCode, `${missing}: ${res.body}`).toBe(400);
    }
    expect(await domainState(services, a.id)).toEqual(before);
  });

  it("answers A's credentials on B's details exactly as on an unknown domain, and B's stay as they were", async () => {
    const before = await domainState(services, b.id);
    const bDetails = (
      await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/billing`)
    ).json<unknown>();
    for (const [tenant, credential] of [
      [aBilling, 'key'],
      [a, 'token'],
      [a, 'session'],
    ] as const) {
      for (const method of ['GET', 'PUT'] as const) {
        const body = method === 'PUT' ? detailsOf('Smuggled', 'Nowhere') : undefined;
        const foreign = await send(tenant, credential, method, `/v1/domains/${b.id}/billing`, body);
        const unknown = await send(tenant, credential, method, `/v1/domains/${unknownDomain}/billing`, body);
        const label = `${credential} ${method}: ${foreign.body}`;
        if (credential === 'key' || method === 'GET') expect(foreign.statusCode, label).toBe(404);
        expect(comparable(foreign), label).toEqual(comparable(unknown));
        expect(foreign.body, label).not.toContain('Bravo');
      }
    }
    expect(await domainState(services, b.id)).toEqual(before);
    expect((await send('operator', 'operator', 'GET', `/v1/domains/${b.id}/billing`)).json()).toEqual(
      bDetails,
    );
  });

  it('renders each invoice as a PDF with its own domain’s name, address and lines, and nothing of another', async () => {
    const book = await send('operator', 'operator', 'PUT', '/v1/billing/prices', {
      currency: 'EUR',
      meters: [
        { meter: 'alpha.calls', unit: 'call', unitPrice: 3, per: 10, included: 100 },
        { meter: 'bravo.secret', unit: 'secret', unitPrice: 777 },
      ],
    });
    expect(book.statusCode, book.body).toBe(200);
    const at = pastMonth.toISOString();
    for (const [tenant, meter, quantity] of [
      [aBilling, 'alpha.calls', 1234],
      [bBilling, 'bravo.secret', 9],
    ] as const) {
      const res = await send(tenant, 'key', 'POST', `/v1/domains/${tenant.id}/usage`, {
        meter,
        quantity,
        eventId: `${meter}-1`,
        at,
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const close = await send('operator', 'operator', 'POST', `/v1/billing/periods/${period}/close`);
    expect(close.statusCode, close.body).toBe(200);
    const invoiceOf = async (tenant: Tenant) =>
      (await send('operator', 'operator', 'GET', `/v1/domains/${tenant.id}/invoices`)).json<{
        items: { id: string; number: number }[];
      }>().items[0]!;
    const aInvoice = await invoiceOf(a);
    const bInvoice = await invoiceOf(b);

    const pdf = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices/${aInvoice.id}.pdf`);
    expect(pdf.statusCode, pdf.body.slice(0, 200)).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const text = await pdfText(pdf.rawPayload);
    for (const expected of [
      'Acme Cloud GmbH',
      'Alpha Widgets Ltd',
      '1 Aachen Street',
      '10115 Aachen',
      'DE123456789',
      'billing@aachen.example',
      String(aInvoice.number),
      period,
      'alpha.calls',
      '1,234 call',
      '0.03 EUR / 10 call',
      // 1,134 billable × 3 ÷ 10 = 340.2 → 340 minor units.
      '3.40 EUR',
      'open',
    ])
      expect(text, expected).toContain(expected);
    // B's unit price and total as a PDF prints them (7.77 and 69.93 EUR): with their decimal point, so that
    // a run of digits in A's own random invoice id cannot be taken for them.
    for (const foreign of ['Bravo', 'Bremen', 'bravo.secret', b.id, bInvoice.id, '7.77', '69.93'])
      expect(text, foreign).not.toContain(foreign);
    // The same invoice renders to the same bytes.
    const again = await send(a, 'token', 'GET', `/v1/domains/me/invoices/${aInvoice.id}.pdf`);
    expect(again.statusCode).toBe(200);
    expect(Buffer.compare(again.rawPayload, pdf.rawPayload)).toBe(0);
    // B's shows B's own.
    const bText = await pdfText(
      (await send(bBilling, 'key', 'GET', `/v1/domains/${b.id}/invoices/${bInvoice.id}.pdf`)).rawPayload,
    );
    expect(bText).toContain('Bravo Ünïcorn Säles');
    expect(bText).toContain('bravo.secret');
    expect(bText).toContain('7.77');
    expect(bText).toContain('69.93');
    expect(bText).not.toContain('Alpha');
    expect(bText).not.toContain('alpha.calls');

    // B's invoice with A's credentials, through A's domain or B's: the unknown id's 404.
    const unknownInvoice = 'inv_00000000000000000000000000';
    for (const [tenant, credential] of [
      [aBilling, 'key'],
      [a, 'token'],
      [a, 'session'],
    ] as const) {
      for (const domain of [a.id, b.id]) {
        const foreign = await send(
          tenant,
          credential,
          'GET',
          `/v1/domains/${domain}/invoices/${bInvoice.id}.pdf`,
        );
        const unknown = await send(
          tenant,
          credential,
          'GET',
          `/v1/domains/${domain}/invoices/${unknownInvoice}.pdf`,
        );
        expect(foreign.statusCode, `${credential} ${foreign.body}`).toBe(404);
        expect(comparable(foreign)).toEqual(comparable(unknown));
        expect(foreign.body).not.toContain('%PDF');
      }
    }
    // A malformed id is a 400, never a 500; a key without `invoices:read` is refused.
    const malformed = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices/inv_x.pdf`);
    expect(malformed.statusCode, malformed.body).toBe(400);
    const unscoped = await send(a, 'key', 'GET', `/v1/domains/${a.id}/invoices/${aInvoice.id}.pdf`);
    expect(unscoped.statusCode).toBe(403);
    // The JSON invoice is still reached at its own path.
    const json = await send(aBilling, 'key', 'GET', `/v1/domains/${a.id}/invoices/${aInvoice.id}`);
    expect(json.statusCode, json.body).toBe(200);
    expect(json.json<{ id: string }>().id).toBe(aInvoice.id);
  });
});
