// How two answers are compared. What differs between any two requests (request ids, times, dates,
// connection headers) is removed, and the values the request itself carried are replaced by their
// parameter names, so an answer that echoes its own path compares equal to the unknown-id answer.
import type { Exchange } from './http.js';

export interface Comparable {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** Body fields ignored by default (compared lowercased, `_` removed); `…At` and `…_at` fields too. */
export const defaultVolatileFields = [
  'requestid',
  'traceid',
  'correlationid',
  'timestamp',
  'time',
  'date',
  'now',
] as const;

const volatileHeaders = new Set([
  'date',
  'x-request-id',
  'request-id',
  'x-correlation-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'etag',
  'last-modified',
  'age',
  'expires',
  'keep-alive',
  'connection',
  'content-length',
  'transfer-encoding',
  'server-timing',
  'x-response-time',
  // The caller's own rate state, which moves with each of its requests whatever they ask for.
  'ratelimit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]);

const isoTime = /\b\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?\b/g;

function fieldKey(name: string): string {
  return name.toLowerCase().replaceAll('_', '').replaceAll('-', '');
}

function isVolatileField(name: string, volatile: ReadonlySet<string>): boolean {
  return volatile.has(fieldKey(name)) || /[a-z0-9]At$/.test(name) || /_at$/i.test(name);
}

function strip(value: unknown, volatile: ReadonlySet<string>): unknown {
  if (typeof value === 'string') return value.replace(isoTime, '<time>');
  if (Array.isArray(value)) return value.map((v) => strip(v, volatile));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      if (!isVolatileField(key, volatile))
        out[key] = strip((value as Record<string, unknown>)[key], volatile);
    }
    return out;
  }
  return value;
}

/** Replaces every occurrence of each value by its placeholder, longest values first. */
export function mask(text: string, masks: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [value, placeholder] of [...masks].sort((x, y) => y[0].length - x[0].length)) {
    if (value.length > 0) out = out.split(value).join(placeholder);
  }
  return out;
}

/**
 * An answer reduced to what must be equal between a foreign id and an unknown one.
 *
 * @example
 * comparable(exchange, [['dom_01…', '{domainId}']], new Set(defaultVolatileFields));
 */
export function comparable(
  exchange: Exchange,
  masks: readonly (readonly [string, string])[],
  volatile: ReadonlySet<string>,
): Comparable {
  const text = mask(exchange.text, masks);
  let body: unknown;
  try {
    body = strip(JSON.parse(text), volatile);
  } catch {
    body = text.replace(isoTime, '<time>');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(exchange.headers).sort()) {
    if (volatileHeaders.has(name)) continue;
    // A cookie's value and expiry change per request; which cookies are set does not.
    headers[name] =
      name === 'set-cookie'
        ? value
            .split(/,(?=\s*[^;=\s]+=)/)
            .map((c) => c.split('=')[0]!.trim())
            .sort()
            .join(',')
        : mask(value, masks);
  }
  return { status: exchange.status, headers, body };
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}

function firstBodyDifference(a: unknown, b: unknown, path: string): string | null {
  if (stable(a) === stable(b)) return null;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const d = firstBodyDifference(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        `${path}/${key}`,
      );
      if (d !== null) return d;
    }
  }
  return path === '' ? 'body' : `body ${path}`;
}

/**
 * Where two comparable answers differ first, or null when they are equal.
 *
 * @example
 * difference(foreign, unknown); // → 'status 403 vs 404'
 */
export function difference(a: Comparable, b: Comparable): string | null {
  if (a.status !== b.status) return `status ${a.status} vs ${b.status}`;
  const body = firstBodyDifference(a.body, b.body, '');
  if (body !== null) return `${body} differs`;
  for (const name of new Set([...Object.keys(a.headers), ...Object.keys(b.headers)])) {
    if (a.headers[name] !== b.headers[name]) return `header ${name} differs`;
  }
  return null;
}

/** The markers that occur in `text`. */
export function markersIn(text: string, markers: readonly string[]): string[] {
  return markers.filter((m) => text.includes(m));
}
