// A billing period is one calendar month in UTC, named `YYYY-MM`: it starts at the first instant of the
// month and ends (exclusive) at the first instant of the next.
import { BulkheadError } from '../errors.js';

/** The pattern of a period's name. */
export const periodPattern = '^[0-9]{4}-(0[1-9]|1[0-2])$';

/** The instants a period spans: [start, end). */
export interface PeriodBounds {
  readonly start: Date;
  readonly end: Date;
}

/** The bounds of `period`; `invalid_request` for a name that is not a month of the years 0001–9999. */
export function periodBounds(period: string): PeriodBounds {
  if (!new RegExp(periodPattern).test(period) || period.startsWith('0000'))
    throw new BulkheadError('invalid_request', 'A period is a month, `YYYY-MM`.');
  const year = Number(period.slice(0, 4));
  const month = Number(period.slice(5, 7)) - 1;
  const start = new Date(0);
  start.setUTCFullYear(year, month, 1);
  const end = new Date(0);
  end.setUTCFullYear(year, month + 1, 1);
  return { start, end };
}

/** The period an instant falls in. */
export function periodOf(at: Date): string {
  return `${String(at.getUTCFullYear()).padStart(4, '0')}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}
