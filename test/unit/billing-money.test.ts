// The arithmetic of billing, as properties over any integers the API takes: an amount is the one rounding
// (nearest minor unit, halves up) of the exact rational, never below or above it by more than half a
// unit; included units are free and never make an amount negative; an invoice's total is the sum of its
// lines; and an invoice's content hash changes with any field it covers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { invoiceHash, type InvoiceContent } from '../../src/audit/invoice-hash.js';
import { divideRoundHalfUp, lineAmount, sum } from '../../src/billing/money.js';
import { periodBounds, periodOf } from '../../src/billing/periods.js';

const quantity = fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) });
const price = fc.record({
  unitPrice: fc.bigInt({ min: 0n, max: 1_000_000_000n }),
  per: fc.bigInt({ min: 1n, max: 1_000_000_000n }),
  included: quantity,
});

describe('billing money', () => {
  it('rounds the exact amount to the nearest minor unit, halves up, once', () => {
    fc.assert(
      fc.property(quantity, price, (q, p) => {
        const line = lineAmount(q, p);
        expect(typeof line.amount).toBe('bigint');
        expect(line.included + line.billable).toBe(q);
        expect(line.included <= p.included && line.billable >= 0n).toBe(true);
        // |amount − billable × unitPrice / per| ≤ 1/2, and exactly 1/2 only rounding up.
        const twice = line.amount * 2n * p.per - 2n * line.billable * p.unitPrice;
        expect(twice <= p.per && twice > -p.per).toBe(true);
      }),
    );
  });

  it('rounds halves up and whole amounts not at all', () => {
    expect(divideRoundHalfUp(5n, 2n)).toBe(3n);
    expect(divideRoundHalfUp(3402n, 10n)).toBe(340n);
    expect(divideRoundHalfUp(3405n, 10n)).toBe(341n);
    expect(divideRoundHalfUp(0n, 7n)).toBe(0n);
    expect(() => divideRoundHalfUp(-1n, 2n)).toThrow(RangeError);
    expect(lineAmount(1234n, { unitPrice: 3n, per: 10n, included: 100n })).toEqual({
      quantity: 1234n,
      included: 100n,
      billable: 1134n,
      amount: 340n,
    });
  });

  it("makes a total that is the sum of its lines, whatever the lines' order", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(quantity, price), { maxLength: 20 }), (lines) => {
        const amounts = lines.map(([q, p]) => lineAmount(q, p).amount);
        const total = sum(amounts);
        expect(sum([...amounts].reverse())).toBe(total);
        expect(total >= 0n).toBe(true);
        expect(amounts.every((a) => a <= total)).toBe(true);
      }),
    );
  });

  it('hashes every field an invoice says, and nothing twice the same', () => {
    const base: InvoiceContent = {
      id: 'inv_01jbz0000000000000000000aa',
      domainId: 'dom_01jbz0000000000000000000aa',
      number: 1,
      period: '2026-10',
      currency: 'EUR',
      subtotal: 415n,
      total: 415n,
      closedAt: new Date('2026-11-01T00:00:01Z'),
      lines: [
        {
          position: 1,
          meter: 'api.calls',
          unit: 'call',
          quantity: 1234n,
          included: 100n,
          billable: 1134n,
          unitPrice: 3n,
          per: 10n,
          amount: 340n,
        },
      ],
    };
    const hash = invoiceHash(base);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(invoiceHash(structuredClone(base))).toBe(hash);
    const changes: Partial<InvoiceContent>[] = [
      { number: 2 },
      { period: '2026-09' },
      { currency: 'USD' },
      { total: 416n },
      { subtotal: 416n },
      { domainId: 'dom_01jbz0000000000000000000ab' },
      { closedAt: new Date('2026-11-01T00:00:02Z') },
      { lines: [{ ...base.lines[0]!, amount: 341n }] },
      { lines: [] },
    ];
    for (const change of changes)
      expect(invoiceHash({ ...base, ...change }), Object.keys(change).join()).not.toBe(hash);
  });

  it('names every month once, from its first instant to the next month’s', () => {
    expect(periodBounds('2026-12')).toEqual({
      start: new Date('2026-12-01T00:00:00Z'),
      end: new Date('2027-01-01T00:00:00Z'),
    });
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (at) => {
          const { start, end } = periodBounds(periodOf(at));
          expect(start.getTime() <= at.getTime() && at.getTime() < end.getTime()).toBe(true);
        },
      ),
    );
    for (const bad of ['0000-01', '2026-13', '2026-00', '26-01', '2026-1'])
      expect(() => periodBounds(bad), bad).toThrow();
  });
});
