// One way for the CLI to call a running server: JSON in and out, the bearer credential on every call,
// and a problem response turned back into the BulkheadError the server meant.
import { BulkheadError, errorStatus, type ErrorCode } from '../errors.js';

export type QueryValue = string | number | boolean | Date | undefined;

export interface ApiCall {
  <T>(
    method: string,
    path: string,
    options?: { body?: unknown; query?: Record<string, QueryValue>; headers?: Record<string, string> },
  ): Promise<T>;
}

export function apiClient(baseUrl: string, credential: string): ApiCall {
  const base = baseUrl.replace(/\/+$/, '');
  return async <T>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Record<string, QueryValue>; headers?: Record<string, string> } = {},
  ): Promise<T> => {
    const url = new URL(`${base}${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, v instanceof Date ? v.toISOString() : String(v));
    }
    const body = options.body;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${credential}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new BulkheadError('unavailable', `Cannot reach ${base}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const text = await response.text();
    const parsed: unknown = text === '' ? null : JSON.parse(text);
    if (!response.ok) {
      const problem = parsed as { code?: string; detail?: string; reason?: unknown; hint?: unknown } | null;
      const code = (
        problem?.code !== undefined && problem.code in errorStatus ? problem.code : 'internal'
      ) as ErrorCode;
      // The cause and the fix travel with the code, so the CLI can say what to do.
      throw new BulkheadError(code, problem?.detail ?? `HTTP ${response.status}`, {
        reason: typeof problem?.reason === 'string' ? problem.reason : undefined,
        hint: typeof problem?.hint === 'string' ? problem.hint : undefined,
      });
    }
    return parsed as T;
  };
}
