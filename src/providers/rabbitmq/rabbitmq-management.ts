// The part of the management HTTP API the provider uses, over Node's fetch. Every path segment goes
// through encodeURIComponent, so a name can never reach another object's path. A 404 is an answer
// (the object is absent); anything else outside 2xx is a ProviderError ('management') with the broker's reason.
import type { RabbitmqSettings } from './rabbitmq-options.js';
import { ProviderError } from '../provider.js';

// A management call that hangs is a broken setup, not an answer.
const TIMEOUT_MS = 15_000;

/** A path under /api from literal parts and names: `path('users', name)` → `/users/<name encoded>`. */
export function apiPath(...parts: string[]): string {
  return parts.map((p) => `/${encodeURIComponent(p)}`).join('');
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** The broker's clock (the Date header), in milliseconds, rounded down to the second. */
  readonly date: number | null;
}

/** One request to the management API with the given Authorization header; never throws on a status. */
export async function request(
  apiBase: string,
  authorization: string,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${apiBase}${path}`, {
    method,
    headers: {
      authorization,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
    redirect: 'error',
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON (an HTML error page, say): kept as text for the error message.
  }
  const date = res.headers.get('date');
  return { status: res.status, body: parsed, date: date === null ? null : Date.parse(date) };
}

function reason(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'reason' in body) return String(body.reason);
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

/** The administrator's client: every call is checked, and 404 means absent. */
export class ManagementClient {
  constructor(private readonly s: RabbitmqSettings) {}

  private async call(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) {
    const answer = await request(this.s.apiBase, this.s.adminAuth, method, path, body, headers);
    if (answer.status === 404 || (answer.status >= 200 && answer.status < 300)) return answer;
    throw new ProviderError(
      'rabbitmq',
      'management',
      `${method} /api${path} answered ${answer.status}: ${reason(answer.body)}`,
    );
  }

  /** The object at `path`, or null when there is none. */
  async get<T>(path: string): Promise<T | null> {
    const answer = await this.call('GET', path);
    return answer.status === 404 ? null : (answer.body as T);
  }

  /** Creates or replaces the object at `path`; returns the broker's clock at that moment. */
  async put(path: string, body: unknown): Promise<number | null> {
    const answer = await this.call('PUT', path, body);
    // A PUT under a missing parent (permissions of a deleted vhost) answers 404 too: that is an error.
    if (answer.status === 404) {
      throw new ProviderError(
        'rabbitmq',
        'management',
        `PUT /api${path} answered 404: ${reason(answer.body)}`,
      );
    }
    return answer.date;
  }

  /** Removes the object at `path`; false when it was already gone. */
  async delete(path: string, headers?: Record<string, string>): Promise<boolean> {
    return (await this.call('DELETE', path, undefined, headers)).status !== 404;
  }
}
