// The portal in a real Chromium over HTTPS, two portal hosts on one local server: A's person signs in at
// A's host and uses every page (each checked with axe and photographed for docs/portal.md at desktop and
// phone widths); A's cookie replayed at B's host is refused while A's session goes on; B's ids in A's
// pages are the 404 page; a form posted from a third origin changes nothing; a script in a name stays
// text (no dialog ever opens); `next` never leaves the host.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { selfSigned } from '../../src/runtime/tls.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { launchBrowser } from '../helpers/browser.js';
import { createPortalTenant, xss, type PortalTenant } from '../helpers/portal.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { tenantPassword } from '../helpers/tenants.js';
import { periodOf } from '../../src/billing/periods.js';
import { newId } from '../../src/domain/ids.js';
import { recordRun, type VerifyRun } from '../../src/verify/runs.js';

const hosts = ['portal.a.test', 'portal.b.test', 'control.test'];
const shots = join(import.meta.dirname, '../../docs/portal');

describe('the portal in Chromium', () => {
  let providers: TestProviders;
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let browser: Browser;
  let port: string;
  let a: PortalTenant;
  let b: PortalTenant;
  let aResource: string;
  let bResource: string;
  let contextA: BrowserContext;
  let pageA: Page;
  const dialogs: string[] = [];

  const at = (host: string, path: string) => `https://${host}:${port}${path}`;

  async function noSeriousViolations(page: Page, label: string) {
    const result = await new AxeBuilder({ page }).analyze();
    const serious = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious, label).toEqual([]);
  }

  async function photograph(page: Page, name: string) {
    await page.setViewportSize({ width: 1200, height: 760 });
    await page.screenshot({ path: join(shots, `${name}-desktop.png`) });
    await page.setViewportSize({ width: 390, height: 760 });
    await page.screenshot({ path: join(shots, `${name}-phone.png`) });
    await page.setViewportSize({ width: 1200, height: 760 });
  }

  async function signInAt(page: Page, host: string, email: string) {
    await page.goto(at(host, '/sign-in'));
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(tenantPassword);
    await Promise.all([
      page.waitForURL(at(host, '/')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
  }

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    providers = await openTestProviders();
    services = await openTestServices(backends[0]!, {
      providers: providers.providers,
      publicUrl: 'https://control.test',
    });
    providers.bind(services.keyring);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services, { https: await selfSigned(hosts) });
    port = new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port;
    a = await createPortalTenant(app, operatorToken, {
      slug: `browser-a-${process.pid}`,
      host: 'portal.a.test',
      displayName: `Alpha ${xss}`,
      color: '#8a2a00',
      email: 'ada@alpha.example',
    });
    b = await createPortalTenant(app, operatorToken, {
      slug: `browser-b-${process.pid}`,
      host: 'portal.b.test',
      displayName: 'Beta Portal',
      color: '#003d99',
      email: 'bob@beta.example',
    });
    const make = async (tenant: PortalTenant, name: string) => {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${tenant.id}/resources`,
        headers: { authorization: `Bearer ${tenant.key}` },
        payload: { kind: 'storage', name },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    };
    aResource = await make(a, 'alpha-files');
    bResource = await make(b, 'beta-secret-files');
    // Usage and a closed invoice, so that the usage and invoices pages show a chart and a PDF link.
    const op = { authorization: `Bearer ${operatorToken}` };
    const prices = await app.inject({
      method: 'PUT',
      url: '/v1/billing/prices',
      headers: op,
      payload: { currency: 'EUR', meters: [{ meter: 'api.calls', unit: 'call', unitPrice: 3, per: 10 }] },
    });
    expect(prices.statusCode, prices.body).toBe(200);
    const now = new Date();
    const past = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 15, 12));
    const usage: [number, Date][] = [[5000, past]];
    for (let day = 0; day < 12; day++)
      usage.push([200 + ((day * 137) % 500), new Date(now.getTime() - day * 86_400_000)]);
    for (const [i, [quantity, when]] of usage.entries()) {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${a.id}/usage`,
        headers: op,
        payload: { meter: 'api.calls', quantity, eventId: `browser-${i}`, at: when.toISOString() },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const close = await app.inject({
      method: 'POST',
      url: `/v1/billing/periods/${periodOf(past)}/close`,
      headers: op,
    });
    expect(close.statusCode, close.body).toBe(200);
    browser = await launchBrowser({ hosts: [...hosts, 'evil.test'] });
    contextA = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 760 } });
    pageA = await contextA.newPage();
    pageA.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await services?.drop();
    providers?.remove();
  });

  it("signs A's person in at A's host, and every page works, reads well and is accessible", async () => {
    const first = await pageA.goto(at(a.host, '/'));
    expect(first?.status()).toBe(401);
    await expect(pageA.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      `Sign in to Alpha ${xss}`,
    );
    await noSeriousViolations(pageA, 'sign-in');
    await photograph(pageA, 'sign-in');
    await signInAt(pageA, a.host, a.email);
    await expect(pageA.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Welcome');
    // The display name is text: the payload is shown, not run.
    await expect(pageA.locator('header .brand span').textContent()).resolves.toBe(`Alpha ${xss}`);
    await noSeriousViolations(pageA, 'dashboard');
    await photograph(pageA, 'dashboard');
    for (const [path, name] of [
      ['/resources', 'resources'],
      [`/resources/${aResource}`, 'resource'],
      ['/members', 'members'],
      ['/sessions', 'sessions'],
      ['/audit', 'audit'],
      ['/usage', 'usage'],
      ['/invoices', 'invoices'],
    ] as const) {
      const res = await pageA.goto(at(a.host, path));
      expect(res?.status(), path).toBe(200);
      await noSeriousViolations(pageA, path);
      await photograph(pageA, name);
    }
    await pageA.goto(at(a.host, '/resources'));
    expect(await pageA.getByRole('link', { name: 'alpha-files' }).count()).toBe(1);
    await pageA.goto(at(a.host, '/usage'));
    expect(await pageA.locator('svg.chart rect.bar').count()).toBe(30);
    await pageA.goto(at(a.host, '/invoices'));
    // The link's target, asked with the browser's own cookie at A's host.
    const href = (await pageA.getByRole('link', { name: /\(PDF\)$/ }).getAttribute('href'))!;
    const cookie = (await contextA.cookies(at(a.host, '/'))).find(
      (c) => c.name === '__Host-bulkhead_portal',
    )!;
    const pdf = await app.inject({
      method: 'GET',
      url: href,
      headers: { host: a.host, cookie: `${cookie.name}=${cookie.value}` },
    });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(dialogs).toEqual([]);
  });

  it("adds members from A's members page: a service's secret is shown once, with a copy button", async () => {
    await pageA.goto(at(a.host, '/members'));
    await pageA.getByLabel('Kind').selectOption('user');
    await pageA.getByLabel('Email (users)').fill('grace@alpha.example');
    await pageA.getByLabel('Password (users, at least 12 characters)').fill('a long enough password');
    await pageA.getByRole('button', { name: 'Add', exact: true }).click();
    await expect(pageA.getByRole('status').textContent()).resolves.toContain('Added grace@alpha.example.');
    await pageA.getByLabel('Kind').selectOption('service');
    await pageA.getByRole('button', { name: 'Add', exact: true }).click();
    const secret = await pageA.locator('#secret').textContent();
    expect(secret).toMatch(/^bhs_/);
    // The copy button is shown by the portal's script, which runs only with the page's nonce.
    await expect(pageA.getByRole('button', { name: 'Copy' }).isVisible()).resolves.toBe(true);
    await noSeriousViolations(pageA, 'member added');
    await photograph(pageA, 'member-added');
    await pageA.goto(at(a.host, '/members'));
    expect(await pageA.content()).not.toContain(secret!);
    expect(dialogs).toEqual([]);
  });

  it("creates and deletes a resource from A's pages with A's key; B's key is refused", async () => {
    const keyLabel = "The domain's provisioning key (used for this request only, never kept)";
    await pageA.goto(at(a.host, '/resources'));
    await pageA.getByLabel('Kind').selectOption('storage');
    await pageA.getByLabel('Name (lowercase letters, digits and dashes)').fill('alpha-new');
    await pageA.getByLabel(keyLabel).fill(b.key);
    await pageA.getByRole('button', { name: 'Create' }).click();
    await expect(pageA.getByRole('alert').textContent()).resolves.toContain(
      'not a live provisioning key of this domain',
    );
    expect(await pageA.content()).not.toContain(b.key);
    await pageA.getByLabel('Name (lowercase letters, digits and dashes)').fill('alpha-new');
    await pageA.getByLabel(keyLabel).fill(a.key);
    await pageA.getByRole('button', { name: 'Create' }).click();
    await expect(pageA.getByRole('status').first().textContent()).resolves.toContain('Created alpha-new.');
    const first = await pageA.locator('#cred-0').textContent();
    expect(first).not.toBe('');
    await expect(
      pageA
        .getByRole('button', { name: /^Copy / })
        .first()
        .isVisible(),
    ).resolves.toBe(true);
    expect(await pageA.content()).not.toContain(a.key);
    await noSeriousViolations(pageA, 'resource created');
    await photograph(pageA, 'resource-created');
    await pageA.getByRole('link', { name: 'alpha-new' }).click();
    await pageA.getByLabel(keyLabel).fill(a.key);
    await pageA.getByRole('button', { name: 'Delete alpha-new' }).click();
    await expect(pageA.getByRole('status').textContent()).resolves.toContain('Deleted alpha-new');
    expect(await pageA.getByRole('link', { name: 'alpha-new' }).count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('runs the operator console at the control plane host: domains and the verify-run chart', async () => {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1200, height: 760 },
    });
    // A week of recorded isolation runs, one with leaks and less coverage, for the chart.
    for (let day = 7; day >= 1; day--) {
      const leaks = day === 4 ? 2 : 0;
      const exercised = day === 4 ? 36 : 42;
      const at = Date.now() - day * 86_400_000;
      const run: VerifyRun = {
        id: newId('verifyRun'),
        startedAt: new Date(at).toISOString(),
        finishedAt: new Date(at + 60_000).toISOString(),
        target: 'https://control.test',
        verdict: leaks > 0 ? 'leak' : 'clean',
        operations: 42,
        exercised,
        unexercised: 42 - exercised,
        checks: 120,
        leaks,
        inconclusive: 0,
        error: null,
        report: null,
      };
      await services.store.system('verify', (tx) => recordRun(tx, run, 'system'));
    }
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const first = await page.goto(at('control.test', '/console'));
    expect(first?.status()).toBe(401);
    await noSeriousViolations(page, 'console sign-in');
    await photograph(page, 'console-sign-in');
    await page.getByLabel('Operator token').fill(operatorToken);
    await Promise.all([
      page.waitForURL(at('control.test', '/console')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(await page.locator('svg.chart').count()).toBe(1);
    await noSeriousViolations(page, 'console overview');
    await photograph(page, 'console-overview');
    await page.goto(at('control.test', '/console/domains'));
    expect(await page.getByRole('link', { name: `browser-a-${process.pid}` }).count()).toBe(1);
    await noSeriousViolations(page, 'console domains');
    await photograph(page, 'console-domains');
    await page.getByRole('link', { name: `browser-a-${process.pid}` }).click();
    await expect(page.getByLabel('Hosts (one per line)').inputValue()).resolves.toBe(a.host);
    await noSeriousViolations(page, 'console domain');
    await photograph(page, 'console-domain');
    await page.goto(at('control.test', '/console/grants'));
    await noSeriousViolations(page, 'console grants');
    // A grant created from the console's form: A's services may read B's volumes.
    await page.getByLabel('From (the domain that acts)').selectOption(a.id);
    await page.getByLabel('To (the domain whose resources it acts on)').selectOption(b.id);
    await page.getByLabel('volumes.read').check();
    await page.getByLabel('Reason').fill(`support ticket ${xss}`);
    await page.getByRole('button', { name: 'Create the grant' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Created the grant.');
    await expect(page.getByRole('cell', { name: `support ticket ${xss}` }).count()).resolves.toBe(1);
    await noSeriousViolations(page, 'console grant created');
    await photograph(page, 'console-grants');
    // The console's host is no portal, and a portal host has no console.
    expect((await page.goto(at('control.test', '/')))?.status()).toBe(404);
    expect((await page.goto(at(a.host, '/console')))?.status()).toBe(404);
    await context.close();
    expect(dialogs).toEqual([]);
  });

  it("refuses A's cookie replayed at B's host, and A's session goes on", async () => {
    const cookie = (await contextA.cookies(at(a.host, '/'))).find(
      (c) => c.name === '__Host-bulkhead_portal',
    )!;
    expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
    const thief = await browser.newContext({ ignoreHTTPSErrors: true });
    await thief.addCookies([
      {
        name: cookie.name,
        value: cookie.value,
        url: at(b.host, '/'),
        secure: true,
        httpOnly: true,
        sameSite: 'Strict',
      },
    ]);
    expect(await thief.cookies(at(b.host, '/'))).toHaveLength(1);
    const page = await thief.newPage();
    const res = await page.goto(at(b.host, '/'));
    expect(res?.status()).toBe(401);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Sign in to Beta Portal',
    );
    expect(await page.content()).not.toContain('Alpha');
    await thief.close();
    const again = await pageA.goto(at(a.host, '/'));
    expect(again?.status()).toBe(200);
  });

  it("shows the 404 page for B's resource in A's pages, as for an unknown one", async () => {
    const foreign = await pageA.goto(at(a.host, `/resources/${bResource}`));
    expect(foreign?.status()).toBe(404);
    expect(await pageA.content()).not.toContain('beta-secret-files');
    await noSeriousViolations(pageA, '404');
    await photograph(pageA, 'not-found');
    const unknown = await pageA.goto(at(a.host, '/resources/res_00000000000000000000000000'));
    expect(unknown?.status()).toBe(404);
  });

  it('changes nothing for a form posted from a third origin', async () => {
    await pageA.route(at('evil.test', '/attack'), (route) =>
      route.fulfill({
        contentType: 'text/html',
        body:
          `<form method="post" action="${at(a.host, '/sessions/sign-out-everywhere')}">` +
          '<input name="csrf" value="forged"></form><script>document.forms[0].submit()</script>',
      }),
    );
    const answer = pageA.waitForResponse((r) => r.url().endsWith('/sessions/sign-out-everywhere'));
    await pageA.goto(at('evil.test', '/attack'));
    expect([401, 403]).toContain((await answer).status());
    const still = await pageA.goto(at(a.host, '/sessions'));
    expect(still?.status()).toBe(200);
  });

  it('never follows next off the host', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(at(a.host, `/sign-in?next=${encodeURIComponent(`//evil.test:${port}/x`)}`));
    await page.getByLabel('Email').fill(a.email);
    await page.getByLabel('Password').fill(tenantPassword);
    await Promise.all([
      page.waitForURL(at(a.host, '/')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(new URL(page.url()).host).toBe(`${a.host}:${port}`);
    await context.close();
  });

  it("signs B's person in at B's host with B's branding, showing nothing of A", async () => {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1200, height: 760 },
    });
    const page = await context.newPage();
    await signInAt(page, b.host, b.email);
    await page.goto(at(b.host, '/resources'));
    const html = await page.content();
    expect(html).toContain('beta-secret-files');
    expect(html).not.toContain('alpha-files');
    expect(html).not.toContain('Alpha');
    await photograph(page, 'resources-b');
    await context.close();
  });
});
