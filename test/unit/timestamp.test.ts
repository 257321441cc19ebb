// The one date-time reader: every instant in range reads back exactly from any offset, and every form
// the store or JavaScript would get wrong is refused with its reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  earliestTimestamp,
  latestTimestamp,
  readTimestamp,
  renderableTimestamp,
} from '../../src/domain/timestamp.js';

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** `date` written in the local time of `offset` minutes east of UTC. */
function written(date: Date, offset: number): string {
  const local = new Date(date.getTime() + offset * 60_000);
  const sign = offset < 0 ? '-' : '+';
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `.${pad(local.getUTCMilliseconds(), 3)}${sign}${pad(Math.trunc(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  );
}

describe('readTimestamp', () => {
  it('reads every instant of the years 0001-9999 back exactly, from any offset within ±14:00', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date(earliestTimestamp.getTime() + 86_400_000),
          max: new Date(latestTimestamp.getTime() - 86_400_000),
          noInvalidDate: true,
        }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        (date, offset) => {
          const reading = readTimestamp(written(date, offset));
          expect(reading).toEqual({ ok: true, date });
          expect(readTimestamp(date.toISOString())).toEqual({ ok: true, date });
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['2016-12-31T23:59:60Z', 'leap_second'],
    ['2030-01-01T00:00:00+14:01', 'offset'],
    ['9999-12-31T23:59:59-23:59', 'offset'],
    ['2030-01-01T00:00:00+02:60', 'offset'],
    ['9999-12-31T23:59:59-00:01', 'out_of_range'],
    ['0001-01-01T00:00:00+00:01', 'out_of_range'],
    ['0000-01-01T00:00:00Z', 'syntax'],
    ['+010000-01-01T00:00:00Z', 'syntax'],
    ['2030-02-29T00:00:00Z', 'syntax'],
    ['2030-13-01T00:00:00Z', 'syntax'],
    ['2030-01-01T24:00:00Z', 'syntax'],
    ['2030-01-01 00:00:00Z', 'syntax'],
    ['2030-01-01T00:00:00', 'syntax'],
    ['2030-01-01T00:00:00+0100', 'syntax'],
    ['2030-01-01T00:00:00.1234567891Z', 'syntax'],
    ['٢٠٣٠-01-01T00:00:00Z', 'syntax'],
  ])('refuses %s (%s)', (text, problem) => {
    expect(readTimestamp(text)).toMatchObject({ ok: false, problem });
  });

  it('accepts the ends of the range and leap days', () => {
    expect(readTimestamp('0001-01-01T00:00:00Z')).toEqual({ ok: true, date: earliestTimestamp });
    expect(readTimestamp('9999-12-31T23:59:59.999999999Z')).toEqual({ ok: true, date: latestTimestamp });
    expect(readTimestamp('2000-02-29T12:00:00z').ok).toBe(true);
    expect(readTimestamp('0004-02-29T00:00:00Z').ok).toBe(true);
  });

  it('renders what is out of range at the nearest end', () => {
    expect(renderableTimestamp(new Date('+010000-01-01T00:00:00Z'))).toEqual(latestTimestamp);
    expect(renderableTimestamp(Infinity)).toEqual(latestTimestamp);
    expect(renderableTimestamp(-Infinity)).toEqual(earliestTimestamp);
    expect(renderableTimestamp(new Date('2030-01-01T00:00:00Z')).toISOString()).toBe(
      '2030-01-01T00:00:00.000Z',
    );
  });
});
