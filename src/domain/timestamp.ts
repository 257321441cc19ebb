// The one reading of a date-time, for every field and query parameter that takes one: RFC 3339 (section
// 5.6) exactly, and only instants the store and JavaScript both hold and give back unchanged. A leap
// second, an offset beyond ±14:00 or an instant outside the years 0001–9999 is refused before anything
// is stored, with the reason, rather than becoming a driver error or a value that cannot be read back.

/** The earliest instant accepted or rendered: 0001-01-01T00:00:00.000Z. */
export const earliestTimestamp = new Date(-62_135_596_800_000);
/** The latest instant accepted or rendered: 9999-12-31T23:59:59.999Z. */
export const latestTimestamp = new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999));
/** The longest text that can be a valid date-time (nine fraction digits and an offset). */
export const timestampMaxLength = 35;

export type TimestampProblem = 'syntax' | 'leap_second' | 'offset' | 'out_of_range';

export type TimestampReading =
  | { readonly ok: true; readonly date: Date }
  | { readonly ok: false; readonly problem: TimestampProblem; readonly message: string };

const form =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const refused = (problem: TimestampProblem, message: string): TimestampReading => ({
  ok: false,
  problem,
  message,
});

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Reads an RFC 3339 date-time (`2026-12-01T00:00:00Z`, `2026-12-01T01:00:00.5+01:00`); fractions
 * beyond the millisecond are dropped.
 *
 * @example
 * readTimestamp('2016-12-31T23:59:60Z'); // { ok: false, problem: 'leap_second', … }
 */
export function readTimestamp(text: string): TimestampReading {
  const m = text.length > timestampMaxLength ? null : form.exec(text);
  if (m === null) {
    return refused('syntax', 'must be an RFC 3339 date-time such as 2026-12-01T00:00:00Z.');
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) {
    return refused('syntax', 'names a day that does not exist.');
  }
  if (hour > 23 || minute > 59) return refused('syntax', 'names a time of day that does not exist.');
  if (second === 60) return refused('leap_second', 'is a leap second, which cannot be stored; use :59.');
  if (second > 59) return refused('syntax', 'names a time of day that does not exist.');
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const hours = Number(m[10]);
    const minutes = Number(m[11]);
    if (minutes > 59 || hours * 60 + minutes > 14 * 60) {
      return refused('offset', 'has an offset beyond ±14:00.');
    }
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  // Date.UTC reads years 0–99 as 1900–1999, so the year is set on its own.
  const local = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  local.setUTCFullYear(year);
  const date = new Date(local.getTime() - offsetMinutes * 60_000);
  if (date < earliestTimestamp || date > latestTimestamp) {
    return refused('out_of_range', 'is outside the years 0001 to 9999 (UTC).');
  }
  return { ok: true, date };
}

/** The instant a validated date-time names; throws on text that validation would have refused. */
export function timestampOf(text: string): Date {
  const reading = readTimestamp(text);
  if (!reading.ok) throw new RangeError(`not a valid date-time: ${reading.message}`);
  return reading.date;
}

/**
 * A stored instant brought within what a date-time can say (years 0001–9999): a value written by an
 * older version or by hand (`infinity`, year 10000) is rendered at the nearest end, never a failure.
 */
export function renderableTimestamp(value: Date | number): Date {
  const time = typeof value === 'number' ? value : value.getTime();
  if (Number.isNaN(time)) return new Date(latestTimestamp);
  if (time > latestTimestamp.getTime()) return new Date(latestTimestamp);
  if (time < earliestTimestamp.getTime()) return new Date(earliestTimestamp);
  return typeof value === 'number' ? new Date(value) : value;
}
