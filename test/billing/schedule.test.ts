// Months close on their own: once a month has ended and the grace time has passed, the closer writes
// every domain's invoice for it, once — again after a restart, or from a second server, nothing more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillingCloser, previousPeriod } from '../../src/billing/schedule.js';
import { loadConfig } from '../../src/config.js';
import { backends, openTestServices } from '../helpers/backends.js';

const actor = { actor: 'operator', requestId: null };

describe('the month boundary', () => {
  it('names the month before and the instant it ended', () => {
    expect(previousPeriod(new Date('2027-01-01T00:00:00Z'))).toEqual({
      period: '2026-12',
      endedAt: new Date('2027-01-01T00:00:00Z'),
    });
    expect(previousPeriod(new Date('2026-03-31T23:59:59Z')).period).toBe('2026-02');
  });

  it('reads BULKHEAD_BILLING_CLOSE_AFTER as a duration or off, one hour by default', () => {
    expect(loadConfig({}).billingCloseAfter).toBe(3_600_000);
    expect(loadConfig({ BULKHEAD_BILLING_CLOSE_AFTER: '1d' }).billingCloseAfter).toBe(86_400_000);
    expect(loadConfig({ BULKHEAD_BILLING_CLOSE_AFTER: 'off' }).billingCloseAfter).toBeNull();
    expect(() => loadConfig({ BULKHEAD_BILLING_CLOSE_AFTER: 'monthly' })).toThrow(
      /BULKHEAD_BILLING_CLOSE_AFTER/,
    );
  });
});

describe.each(backends)('closing months on a schedule on $name', (backend) => {
  let services: Awaited<ReturnType<typeof openTestServices>>;
  let domainId: string;
  // This month's end, an hour's grace, and a little after.
  const now = new Date();
  const monthEnd = new Date(0);
  monthEnd.setUTCFullYear(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  const period = previousPeriod(monthEnd).period;
  const hour = 3_600_000;

  beforeAll(async () => {
    services = await openTestServices(backend);
    const domain = await services.domains.create(actor, { slug: `closer-${process.pid}`, name: 'Closer' });
    domainId = domain.id;
  });
  afterAll(async () => {
    await services?.drop();
  });

  it('waits out the grace time, closes the month once, and a restart or a second server adds nothing', async () => {
    const closer = new BillingCloser(services.billing, { afterMs: hour });
    expect(await closer.tick(new Date(monthEnd.getTime() + hour / 2))).toBeNull();
    expect(await services.billing.invoices(domainId, { limit: 10 })).toHaveLength(0);

    const first = await closer.tick(new Date(monthEnd.getTime() + hour + 1000));
    expect(first).toMatchObject({ period, created: 1, existing: 0 });
    const invoices = await services.billing.invoices(domainId, { limit: 10 });
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ period });

    // The same process does not close the month again.
    expect(await closer.tick(new Date(monthEnd.getTime() + 2 * hour))).toBeNull();
    // Another process (a restart, a second server) closes it again and finds it done.
    const other = new BillingCloser(services.billing, { afterMs: hour });
    expect(await other.tick(new Date(monthEnd.getTime() + 2 * hour))).toMatchObject({
      period,
      created: 0,
      existing: 1,
    });
    expect(await services.billing.invoices(domainId, { limit: 10 })).toHaveLength(1);
  });
});
