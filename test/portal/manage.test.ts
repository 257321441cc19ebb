// The portal's changes and records through inject(), on both stores: members added, disabled and given
// a new password by an admin only (a member's forms are refused, the policy's rule); a service's secret
// shown once; B's ids in A's forms answered as unknown ones with B unchanged; forms from a third origin
// refused; resources created and deleted with the domain's provisioning key only (B's key refused as an
// invalid one, audited as the API audits it), their credentials shown once; the audit trail filtered, paged and exported with A's events only; usage as SVG charts and
// invoices with their PDFs, A's only; hostile text shown as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { periodOf } from '../../src/billing/periods.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { openProvidedApi, operatorToken } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { createPortalTenant, csrfOf, signIn, xss, type PortalTenant } from '../helpers/portal.js';
import type { TestProviders } from '../helpers/providers.js';
import { domainState, tenantPassword } from '../helpers/tenants.js';

const form = 'application/x-www-form-urlencoded';
const op = { authorization: `Bearer ${operatorToken}` };
const now = new Date();
const pastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 15, 12));
const strip = (html: string) => html.replace(/nonce="[^"]*"/g, '').replace(/value="[^"]*"/g, '');

describe.each(backends)('the portal manages a domain on $name', (backend) => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: PortalTenant;
  let b: PortalTenant;
  let aCookie: string;
  let memberCookie: string;
  let bPrincipal: string;
  let bInvoice: string;
  let aInvoice: string;
  const tag = `${backend.name}-${process.pid}`;

  const page = (host: string, url: string, cookie?: string) =>
    app.inject({ method: 'GET', url, headers: { host, ...(cookie === undefined ? {} : { cookie }) } });
  const post = (host: string, url: string, cookie: string, fields: Record<string, string>, origin?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { host, cookie, origin: origin ?? `https://${host}`, 'content-type': form },
      payload: new URLSearchParams(fields).toString(),
    });
  const tokenAt = async (host: string, cookie: string) => csrfOf((await page(host, '/members', cookie)).body);
  const principals = async (domainId: string) =>
    (await app.inject({ method: 'GET', url: `/v1/domains/${domainId}/principals`, headers: op })).json<{
      items: { id: string; email: string | null; status: string; kind: string; role: string }[];
    }>().items;

  beforeAll(async () => {
    ({ providers, services, app } = await openProvidedApi(backend));
    a = await createPortalTenant(app, operatorToken, {
      slug: `ma-${tag}`,
      host: `portal.ma-${tag}.test`,
      displayName: 'Alpha Works',
      color: '#aa3300',
    });
    b = await createPortalTenant(app, operatorToken, {
      slug: `mb-${tag}`,
      host: `portal.mb-${tag}.test`,
      displayName: 'Beta Portal',
      color: '#003399',
    });
    const member = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/principals`,
      headers: op,
      payload: { kind: 'user', email: `member@${a.host}`, password: tenantPassword, role: 'member' },
    });
    expect(member.statusCode, member.body).toBe(201);
    aCookie = (await signIn(app, a.host, a.email)).cookie!;
    memberCookie = (await signIn(app, a.host, `member@${a.host}`)).cookie!;
    bPrincipal = (await principals(b.id))[0]!.id;

    const prices = await app.inject({
      method: 'PUT',
      url: '/v1/billing/prices',
      headers: op,
      payload: { currency: 'EUR', meters: [{ meter: 'api.calls', unit: 'call', unitPrice: 3, per: 10 }] },
    });
    expect(prices.statusCode, prices.body).toBe(200);
    for (const [domainId, quantity, at, eventId] of [
      [a.id, 1234, pastMonth, 'a-past'],
      [a.id, 777, now, 'a-now'],
      [b.id, 98765, pastMonth, 'b-past'],
      [b.id, 4321, now, 'b-now'],
    ] as const) {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${domainId}/usage`,
        headers: op,
        payload: { meter: 'api.calls', quantity, eventId, at: at.toISOString() },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const close = await app.inject({
      method: 'POST',
      url: `/v1/billing/periods/${periodOf(pastMonth)}/close`,
      headers: op,
    });
    expect(close.statusCode, close.body).toBe(200);
    const invoiceOf = async (domainId: string) =>
      (await app.inject({ method: 'GET', url: `/v1/domains/${domainId}/invoices`, headers: op })).json<{
        items: { id: string }[];
      }>().items[0]!.id;
    aInvoice = await invoiceOf(a.id);
    bInvoice = await invoiceOf(b.id);
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
    providers.remove();
  });

  it('lets an admin add a user and a service, showing the secret once with a copy button', async () => {
    const csrf = await tokenAt(a.host, aCookie);
    const user = await post(a.host, '/members', aCookie, {
      csrf,
      kind: 'user',
      email: `grace@${a.host}`,
      password: 'a long enough password',
      role: 'member',
    });
    expect(user.statusCode, user.body).toBe(200);
    expect(user.body).toContain(`Added grace@${a.host}.`);
    const service = await post(a.host, '/members', aCookie, { csrf, kind: 'service', role: 'member' });
    expect(service.statusCode).toBe(200);
    const secret = /<code id="secret">(bhs_[A-Za-z0-9_-]+)<\/code>/.exec(service.body)?.[1];
    expect(secret).toBeDefined();
    expect(service.body).toContain('data-copy="secret"');
    expect((await page(a.host, '/members', aCookie)).body).not.toContain(secret!);
    const weak = await post(a.host, '/members', aCookie, {
      csrf,
      kind: 'user',
      email: `weak@${a.host}`,
      password: 'short',
      role: 'member',
    });
    expect(weak.statusCode).toBe(400);
    expect(weak.body).toContain('at least 12 characters');
    const taken = await post(a.host, '/members', aCookie, {
      csrf,
      kind: 'user',
      email: `grace@${a.host}`,
      password: 'a long enough password',
      role: 'member',
    });
    expect(taken.statusCode).toBe(409);
    const hostile = await post(a.host, '/members', aCookie, {
      csrf,
      kind: 'user',
      email: `${xss}@x.test`,
      password: 'a long enough password',
      role: 'member',
    });
    expect([200, 400]).toContain(hostile.statusCode);
    expect(hostile.body).not.toContain(xss);
    expect((await page(a.host, '/members', aCookie)).body).not.toContain(xss);
  });

  it('lets an admin disable a member and reset a password, and the member signs in with the new one', async () => {
    const csrf = await tokenAt(a.host, aCookie);
    const grace = (await principals(a.id)).find((p) => p.email === `grace@${a.host}`)!;
    const reset = await post(a.host, `/members/${grace.id}/password`, aCookie, {
      csrf,
      password: 'another long password',
    });
    expect(reset.statusCode, reset.body).toBe(200);
    expect((await signIn(app, a.host, grace.email!, 'another long password')).cookie).not.toBeNull();
    const disable = await post(a.host, `/members/${grace.id}/disable`, aCookie, { csrf });
    expect(disable.statusCode).toBe(200);
    expect((await principals(a.id)).find((p) => p.id === grace.id)?.status).toBe('disabled');
    expect((await signIn(app, a.host, grace.email!, 'another long password')).cookie).toBeNull();
  });

  it("lets an admin change another member's role from its row; the member's sessions end, the same role changes nothing", async () => {
    const created = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/principals`,
      headers: op,
      payload: { kind: 'user', email: `roles@${a.host}`, password: tenantPassword },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const before = (await signIn(app, a.host, `roles@${a.host}`)).cookie!;
    expect((await page(a.host, '/members', before)).body).not.toContain(`action="/members/${id}/role"`);
    const members = await page(a.host, '/members', aCookie);
    expect(members.body).toContain(`action="/members/${id}/role"`);
    // Not its own row, as it does not disable itself there.
    const me = (await principals(a.id)).find((p) => p.email === a.email)!;
    expect(members.body).not.toContain(`action="/members/${me.id}/role"`);
    const csrf = csrfOf(members.body);
    const roleOf = async () => (await principals(a.id)).find((p) => p.id === id);

    const promoted = await post(a.host, `/members/${id}/role`, aCookie, { csrf, role: 'admin' });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.body).toContain(`roles@${a.host} is an admin`);
    expect((await roleOf())?.role).toBe('admin');
    expect((await page(a.host, '/members', before)).statusCode).not.toBe(200);
    const after = (await signIn(app, a.host, `roles@${a.host}`)).cookie!;
    expect((await page(a.host, '/members', after)).body).toContain(`action="/members/${me.id}/role"`);
    const events = async () =>
      (await auditOf(a.id, 'principal.role')).filter((e) => e.target === id).map((e) => e.detail);
    expect(await events()).toEqual([expect.objectContaining({ from: 'member', to: 'admin' })]);

    const again = await post(a.host, `/members/${id}/role`, aCookie, { csrf, role: 'admin' });
    expect(again.statusCode).toBe(200);
    expect((await page(a.host, '/members', after)).statusCode).toBe(200);
    expect(await events()).toHaveLength(1);
    const bad = await post(a.host, `/members/${id}/role`, aCookie, { csrf, role: 'owner' });
    expect(bad.statusCode).toBe(400);
    expect((await roleOf())?.role).toBe('admin');
  });

  it("refuses a member's forms (the policy's admin rule), shows no forms, and changes nothing", async () => {
    const before = await domainState(services, a.id);
    const members = await page(a.host, '/members', memberCookie);
    expect(members.statusCode).toBe(200);
    expect(members.body).not.toContain('action="/members"');
    const csrf = csrfOf(members.body);
    const target = (await principals(a.id)).find((p) => p.email === a.email)!;
    for (const [url, fields] of [
      ['/members', { kind: 'service', role: 'admin' }],
      [`/members/${target.id}/disable`, {}],
      [`/members/${target.id}/password`, { password: 'a long enough password' }],
      [`/members/${target.id}/role`, { role: 'member' }],
    ] as const) {
      const res = await post(a.host, url, memberCookie, { csrf, ...fields });
      expect(res.statusCode, url).toBe(403);
    }
    expect((await page(a.host, '/audit', memberCookie)).statusCode).toBe(403);
    expect((await page(a.host, '/audit.csv', memberCookie)).statusCode).toBe(403);
    expect(await domainState(services, a.id)).toEqual(before);
  });

  it("answers B's ids in A's forms and pages exactly as unknown ones, and B stays as it was", async () => {
    const before = await domainState(services, b.id);
    const bPeople = await principals(b.id);
    const csrf = await tokenAt(a.host, aCookie);
    const unknown = 'prn_00000000000000000000000000';
    for (const [suffix, fields] of [
      ['disable', {}],
      ['password', { password: 'a long enough password' }],
      ['role', { role: 'member' }],
    ] as const) {
      const foreign = await post(a.host, `/members/${bPrincipal}/${suffix}`, aCookie, { csrf, ...fields });
      const none = await post(a.host, `/members/${unknown}/${suffix}`, aCookie, { csrf, ...fields });
      expect(foreign.statusCode, suffix).toBe(404);
      expect(strip(foreign.body)).toEqual(strip(none.body));
    }
    const pdf = await page(a.host, `/invoices/${bInvoice}.pdf`, aCookie);
    const nonePdf = await page(a.host, '/invoices/inv_00000000000000000000000000.pdf', aCookie);
    expect(pdf.statusCode).toBe(404);
    expect(strip(pdf.body)).toEqual(strip(nonePdf.body));
    expect(await principals(b.id)).toEqual(bPeople);
    expect(await domainState(services, b.id)).toEqual(before);
    expect((await signIn(app, b.host, b.email)).cookie).not.toBeNull();
  });

  it('refuses every new form from a third origin or without its token, and nothing changes', async () => {
    const before = await domainState(services, a.id);
    const csrf = await tokenAt(a.host, aCookie);
    const target = (await principals(a.id)).find((p) => p.email === `member@${a.host}`)!;
    for (const [url, fields] of [
      ['/members', { kind: 'service', role: 'admin' }],
      [`/members/${target.id}/disable`, {}],
      [`/members/${target.id}/password`, { password: 'a long enough password' }],
      [`/members/${target.id}/role`, { role: 'admin' }],
    ] as const) {
      expect((await post(a.host, url, aCookie, { csrf, ...fields }, 'https://evil.test')).statusCode).toBe(
        403,
      );
      expect((await post(a.host, url, aCookie, { csrf: 'forged', ...fields })).statusCode).toBe(403);
    }
    expect(await domainState(services, a.id)).toEqual(before);
  });

  it("shows A's audit trail only, filtered, paged and exported as JSON lines and CSV", async () => {
    const all = await page(a.host, '/audit', aCookie);
    expect(all.statusCode, all.body).toBe(200);
    expect(all.body).toContain('principal.create');
    expect(all.body).not.toContain(b.id);
    const filtered = await page(a.host, '/audit?action=principal.disable', aCookie);
    expect(filtered.body).toContain('principal.disable');
    expect(filtered.body).not.toContain('<td>principal.create</td>');
    const bad = await page(a.host, `/audit?action=${encodeURIComponent(xss)}`, aCookie);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toContain(xss);
    const jsonl = await page(a.host, '/audit.jsonl', aCookie);
    expect(jsonl.statusCode).toBe(200);
    expect(jsonl.headers['content-disposition']).toContain('audit.jsonl');
    const events = jsonl.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; domainId: string; action: string });
    expect(events.length).toBeGreaterThan(3);
    expect(events.every((e) => e.domainId === a.id)).toBe(true);
    const later = await page(a.host, `/audit.jsonl?after=${events[1]!.seq}`, aCookie);
    expect(later.body.trim().split('\n').length).toBe(events.length - 2);
    const csv = await page(a.host, '/audit.csv?action=principal.create', aCookie);
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows = csv.body.trim().split('\r\n');
    expect(rows[0]).toBe('seq,at,action,outcome,actor,target,requestId,detail,hash');
    expect(rows.length).toBe(1 + events.filter((e) => e.action === 'principal.create').length);
    expect(csv.body).not.toContain(b.id);
  });

  it('pages the audit trail 50 events at a time, keeping the filter', async () => {
    // Each replay of A's cookie at B's host is audited in A as portal.cross_host.
    for (let i = 0; i < 55; i++) expect((await page(b.host, '/', aCookie)).statusCode).toBe(401);
    const first = await page(a.host, '/audit?action=portal.cross_host', aCookie);
    const seqs = (html: string) => [...html.matchAll(/<tr><td>([0-9]+)<\/td>/g)].map((m) => Number(m[1]));
    expect(seqs(first.body)).toHaveLength(50);
    const next = /href="([^"]+)" rel="next"/.exec(first.body)![1]!.replaceAll('&amp;', '&');
    expect(next).toContain('action=portal.cross_host');
    const second = await page(a.host, next, aCookie);
    expect(second.statusCode).toBe(200);
    expect(seqs(second.body).length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...seqs(second.body))).toBeGreaterThan(Math.max(...seqs(first.body)));
    expect(second.body).not.toContain('<td>principal.create</td>');
  });

  it("shows A's usage as an SVG chart per meter and A's invoices with their PDFs, none of B's", async () => {
    const usage = await page(a.host, '/usage', aCookie);
    expect(usage.statusCode, usage.body).toBe(200);
    expect(usage.body).toContain('<svg class="chart"');
    expect(usage.body).toContain('api.calls');
    expect(usage.body).toContain('Total: 777');
    expect(usage.body).not.toContain('4321');
    const invoices = await page(a.host, '/invoices', aCookie);
    expect(invoices.body).toContain(`/invoices/${aInvoice}.pdf`);
    expect(invoices.body).not.toContain(bInvoice);
    const pdf = await page(a.host, `/invoices/${aInvoice}.pdf`, aCookie);
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    // A member of the domain reads its billing too, as the API's rule says.
    expect((await page(a.host, '/usage', memberCookie)).statusCode).toBe(200);
  });
  const resourcesOf = async (domainId: string, key: string) =>
    (
      await app.inject({
        method: 'GET',
        url: `/v1/domains/${domainId}/resources`,
        headers: { authorization: `Bearer ${key}` },
      })
    ).json<{ items: { id: string; name: string; status: string }[] }>().items;
  const auditOf = (domainId: string, action: string) =>
    services.store.system('operator', (tx) => listAudit(tx, { domainId, action, limit: 100 }));

  it("lets an admin create a resource with the domain's key, its credentials shown once with a copy button", async () => {
    const csrf = await tokenAt(a.host, aCookie);
    const form = await page(a.host, '/resources', aCookie);
    expect(form.body).toContain('action="/resources"');
    expect(form.body).toMatch(/<input id="res-key" name="key" type="password"/);
    const res = await post(a.host, '/resources', aCookie, {
      csrf,
      key: a.key,
      kind: 'storage',
      name: 'a-files',
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('Created a-files.');
    expect(res.body).toContain('data-copy="cred-0"');
    expect(res.body).toMatch(/<code id="cred-0">[^<]+<\/code>/);
    expect(res.body).not.toContain(a.key);
    const created = (await resourcesOf(a.id, a.key)).find((r) => r.name === 'a-files')!;
    expect(created.status).toBe('ready');
    const credentials = (
      await app.inject({
        method: 'GET',
        url: `/v1/domains/${a.id}/resources/${created.id}/credentials`,
        headers: { authorization: `Bearer ${a.key}` },
      })
    ).json<Record<string, string | number>>();
    const secretValue = String(Object.values(credentials).find((v) => String(v).length > 16));
    expect(res.body).toContain(secretValue);
    // Shown once: neither the list nor the resource's page shows it again.
    expect((await page(a.host, '/resources', aCookie)).body).not.toContain(secretValue);
    expect((await page(a.host, `/resources/${created.id}`, aCookie)).body).not.toContain(secretValue);
    // The same audit as the API's: the reservation by the key, its use, the credentials' read.
    const creates = await auditOf(a.id, 'resource.create');
    expect(creates.some((e) => e.target === created.id && e.actor.startsWith('key:'))).toBe(true);
    expect((await auditOf(a.id, 'key.authenticate')).length).toBeGreaterThan(0);
    const everything = JSON.stringify(await auditOf(a.id, 'resource.create'));
    expect(everything).not.toContain(a.key);
  });

  it("refuses B's key in A's forms exactly like an invalid key, audits it in B as the API does, creates nothing", async () => {
    const beforeA = await domainState(services, a.id);
    const beforeB = await domainState(services, b.id);
    const csrf = await tokenAt(a.host, aCookie);
    const fields = { csrf, kind: 'storage', name: 'stolen-key' };
    const foreign = await post(a.host, '/resources', aCookie, { ...fields, key: b.key });
    const invalid = await post(a.host, '/resources', aCookie, {
      ...fields,
      key: `${b.key.slice(0, -4)}AAAA`,
    });
    const garbage = await post(a.host, '/resources', aCookie, { ...fields, key: 'not a key' });
    expect(foreign.statusCode).toBe(403);
    expect(strip(foreign.body)).toEqual(strip(invalid.body));
    expect(strip(foreign.body)).toEqual(strip(garbage.body));
    expect(foreign.body).toContain('not a live provisioning key of this domain');
    expect(foreign.body).not.toContain(b.key);
    const target = (await resourcesOf(a.id, a.key))[0]!;
    const del = await post(a.host, `/resources/${target.id}/delete`, aCookie, { csrf, key: b.key });
    const delInvalid = await post(a.host, `/resources/${target.id}/delete`, aCookie, { csrf, key: 'x' });
    expect(del.statusCode).toBe(403);
    expect(strip(del.body)).toEqual(strip(delInvalid.body));
    expect(await domainState(services, a.id)).toEqual(beforeA);
    expect(await domainState(services, b.id)).toEqual(beforeB);
    const crossed = await auditOf(b.id, 'access.cross_domain');
    expect(crossed.filter((e) => e.target === a.id && e.outcome === 'denied').length).toBe(2);
    expect(crossed.map((e) => e.detail)).toContainEqual({ route: '/resources', method: 'POST' });
  });

  it("answers B's resource in A's delete form, with A's key, exactly as an unknown one, and B keeps it", async () => {
    const bResource = await app.inject({
      method: 'POST',
      url: `/v1/domains/${b.id}/resources`,
      headers: { authorization: `Bearer ${b.key}` },
      payload: { kind: 'storage', name: 'b-files' },
    });
    expect(bResource.statusCode, bResource.body).toBe(201);
    const bId = bResource.json<{ id: string }>().id;
    const before = await domainState(services, b.id);
    const csrf = await tokenAt(a.host, aCookie);
    const foreign = await post(a.host, `/resources/${bId}/delete`, aCookie, { csrf, key: a.key });
    const unknown = await post(a.host, '/resources/res_00000000000000000000000000/delete', aCookie, {
      csrf,
      key: a.key,
    });
    expect(foreign.statusCode).toBe(404);
    expect(strip(foreign.body)).toEqual(strip(unknown.body));
    expect(foreign.body).not.toContain('b-files');
    expect(await domainState(services, b.id)).toEqual(before);
  });

  it("refuses a member's resource forms and shows none, and a key without the scope, audited", async () => {
    const before = await domainState(services, a.id);
    const list = await page(a.host, '/resources', memberCookie);
    expect(list.body).not.toContain('action="/resources"');
    const target = (await resourcesOf(a.id, a.key)).find((r) => r.name === 'a-files')!;
    expect((await page(a.host, `/resources/${target.id}`, memberCookie)).body).not.toContain('/delete"');
    const csrf = csrfOf(list.body);
    const create = await post(a.host, '/resources', memberCookie, {
      csrf,
      key: a.key,
      kind: 'storage',
      name: 'by-member',
    });
    expect(create.statusCode).toBe(403);
    const del = await post(a.host, `/resources/${target.id}/delete`, memberCookie, { csrf, key: a.key });
    expect(del.statusCode).toBe(403);
    const scoped = await app.inject({
      method: 'POST',
      url: `/v1/domains/${a.id}/keys`,
      headers: op,
      payload: { scopes: ['postgres'] },
    });
    expect(scoped.statusCode, scoped.body).toBe(201);
    const narrow = scoped.json<{ key: string }>().key;
    const adminCsrf = await tokenAt(a.host, aCookie);
    const denied = await post(a.host, '/resources', aCookie, {
      csrf: adminCsrf,
      key: narrow,
      kind: 'storage',
      name: 'out-of-scope',
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.body).toContain('storage:create');
    const noDelete = await post(a.host, `/resources/${target.id}/delete`, aCookie, {
      csrf: adminCsrf,
      key: narrow,
    });
    expect(noDelete.statusCode).toBe(403);
    const refusals = await auditOf(a.id, 'access.scope_denied');
    expect(refusals.map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ route: '/resources', kind: 'storage', action: 'create' }),
    );
    expect(refusals.map((e) => [e.target, e.detail])).toContainEqual([
      target.id,
      expect.objectContaining({ kind: 'storage', action: 'delete' }),
    ]);
    const after = await domainState(services, a.id);
    expect(after['resources']).toEqual(before['resources']);
  });

  it('refuses resource forms from a third origin or without their token, and a hostile name as text', async () => {
    const before = await domainState(services, a.id);
    const csrf = await tokenAt(a.host, aCookie);
    const target = (await resourcesOf(a.id, a.key)).find((r) => r.name === 'a-files')!;
    for (const [url, fields] of [
      ['/resources', { key: a.key, kind: 'storage', name: 'csrf-files' }],
      [`/resources/${target.id}/delete`, { key: a.key }],
    ] as const) {
      expect((await post(a.host, url, aCookie, { csrf, ...fields }, 'https://evil.test')).statusCode).toBe(
        403,
      );
      expect((await post(a.host, url, aCookie, { csrf: 'forged', ...fields })).statusCode).toBe(403);
      // B's form token in A's form.
      const bCookie = (await signIn(app, b.host, b.email)).cookie!;
      const bToken = csrfOf((await page(b.host, '/members', bCookie)).body);
      expect((await post(a.host, url, aCookie, { csrf: bToken, ...fields })).statusCode).toBe(403);
    }
    const hostile = await post(a.host, '/resources', aCookie, {
      csrf,
      key: a.key,
      kind: 'storage',
      name: xss,
    });
    expect(hostile.statusCode).toBe(400);
    expect(hostile.body).not.toContain(xss);
    const kind = await post(a.host, '/resources', aCookie, { csrf, key: a.key, kind: xss, name: 'x' });
    expect(kind.statusCode).toBe(400);
    expect(kind.body).not.toContain(xss);
    expect(await domainState(services, a.id)).toEqual(before);
  });

  it("deletes A's resource with A's key", async () => {
    const csrf = await tokenAt(a.host, aCookie);
    const target = (await resourcesOf(a.id, a.key)).find((r) => r.name === 'a-files')!;
    const res = await post(a.host, `/resources/${target.id}/delete`, aCookie, { csrf, key: a.key });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('Deleted a-files');
    expect((await resourcesOf(a.id, a.key)).find((r) => r.id === target.id)).toBeUndefined();
    const deletes = await auditOf(a.id, 'resource.delete');
    expect(deletes.some((e) => e.target === target.id && e.actor.startsWith('key:'))).toBe(true);
  });
});
