// One way for the CLI to call a running server: JSON in and out, the bearer credential on every call,
// and a problem response turned back into the BulkheadError the server meant. Object data goes through
// `raw`: bytes in and out as they are, never parsed.
import { Readable } from 'node:stream';
import { BulkheadError, errorStatus, type ErrorCode } from '../errors.js';

export type QueryValue = string | number | boolean | Date | undefined;

export interface CallOptions {
  body?: unknown;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
}

export interface ApiCall {
  <T>(method: string, path: string, options?: CallOptions): Promise<T>;
  /** A call whose request body is bytes and whose answer (when it is not a problem) is left unread. */
  raw(
    method: string,
    path: string,
    options?: { body?: AsyncIterable<Uint8Array>; headers?: Record<string, string> },
  ): Promise<Response>;
}

/** The BulkheadError a problem response stands for, with the fix (`hint`) when the server gave one. */
async function problemOf(response: Response): Promise<BulkheadError> {
  const text = await response.text();
  type Problem = { code?: string; detail?: string; hint?: unknown; reason?: unknown } | null;
  let problem: Problem;
  try {
    problem = text === '' ? null : (JSON.parse(text) as Problem);
  } catch {
    problem = null;
  }
  const code = (
    problem?.code !== undefined && problem.code in errorStatus ? problem.code : 'internal'
  ) as ErrorCode;
  // The cause and the fix travel with the code, so the CLI can say what to do.
  return new BulkheadError(code, problem?.detail ?? `HTTP ${response.status}`, {
    reason: typeof problem?.reason === 'string' ? problem.reason : undefined,
    hint: typeof problem?.hint === 'string' ? problem.hint : undefined,
  });
}

export function apiClient(baseUrl: string, credential: string): ApiCall {
  const base = baseUrl.replace(/\/+$/, '');
  const send = async (url: URL, init: RequestInit): Promise<Response> => {
    try {
      return await fetch(url, init);
    } catch (error) {
      throw new BulkheadError('unavailable', `Cannot reach ${base}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const call = async <T>(method: string, path: string, options: CallOptions = {}): Promise<T> => {
    const url = new URL(`${base}${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, v instanceof Date ? v.toISOString() : String(v));
    }
    const body = options.body;
    const response = await send(url, {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw await problemOf(response);
    const text = await response.text();
    return (text === '' ? null : JSON.parse(text)) as T;
  };
  const raw: ApiCall['raw'] = async (method, path, options = {}) => {
    const body = options.body;
    const response = await send(new URL(`${base}${path}`), {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        ...(body === undefined ? {} : { 'content-type': 'application/octet-stream' }),
        ...options.headers,
      },
      // A stream body is sent in chunks as it is read; fetch needs `duplex: 'half'` for that.
      ...(body === undefined ? {} : { body: Readable.toWeb(Readable.from(body)), duplex: 'half' }),
    });
    if (!response.ok) throw await problemOf(response);
    return response;
  };
  return Object.assign(call, { raw });
}
