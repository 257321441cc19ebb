// How values of the store's database come back to JavaScript, on both drivers: 64-bit integers as
// numbers while they are exact, stored times as instants every reader can render.
import { earliestTimestamp, latestTimestamp, renderableTimestamp } from '../domain/timestamp.js';

export const int8AsNumber = (value: string) => {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
};

/** PostgreSQL's type oids for `timestamp` and `timestamptz`. */
export const timestampOids = [1114, 1184] as const;

/**
 * Reads a stored time as an instant every reader can render: one the API refuses today but the store
 * holds (written before the API refused it, or by hand: year 10000, `infinity`, a date BC) comes back
 * at the nearest end of the years 0001–9999, so a listing that holds it still answers.
 */
export function renderableStoredTime(read: (text: string) => unknown): (text: string) => Date {
  return (text) => {
    if (text === 'infinity') return new Date(latestTimestamp);
    if (text === '-infinity' || text.endsWith(' BC')) return new Date(earliestTimestamp);
    const value = read(text);
    return renderableTimestamp(value instanceof Date || typeof value === 'number' ? value : Number.NaN);
  };
}
