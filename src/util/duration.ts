// The interval of scheduled verification, written as people write it: `30s`, `15m`, `1h`, `1h30m`, `1d`.
// Anything else is refused with the reason, so a typo never becomes a schedule nobody meant.

const units: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The shortest and longest interval accepted. */
export const minEveryMs = 1000;
export const maxEveryMs = 7 * 86_400_000;

/**
 * Parses a duration such as `1h` or `1h30m` into milliseconds; throws an Error naming the problem.
 *
 * @example
 * parseDuration('15m'); // → 900000
 */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (!/^(\d{1,9}[smhd])+$/.test(value))
    throw new Error(`"${text}" is not a duration: write a number and a unit (s, m, h, d), e.g. 30s, 15m, 1h`);
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * units[unit!]!;
  if (ms < minEveryMs || ms > maxEveryMs) throw new Error(`"${text}" is out of range: from 1s to 7d`);
  return ms;
}

/** A year in a retention period: 366 days, so that a period of years is never shorter than the calendar's. */
const retentionYearMs = 366 * 86_400_000;

/**
 * Parses a retention period: a duration as `parseDuration` takes it, or years (`10y`; `7y6m` is not
 * taken: years stand alone), from 1s to 100 years; throws an Error naming the problem.
 *
 * @example
 * parseRetention('10y'); // → 316224000000 (10 × 366 days)
 */
export function parseRetention(text: string): number {
  const value = text.trim();
  const years = /^(\d{1,3})y$/.exec(value);
  if (years === null && !/^(\d{1,9}[smhd])+$/.test(value))
    throw new Error(`"${text}" is not a retention period: write years (10y) or a duration (30d, 12h)`);
  let ms = 0;
  if (years !== null) ms = Number(years[1]) * retentionYearMs;
  else for (const [, n, unit] of value.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * units[unit!]!;
  if (ms < minEveryMs || ms > 100 * retentionYearMs)
    throw new Error(`"${text}" is out of range: from 1s to 100y`);
  return ms;
}
