// Sends one request and keeps everything the prober compares: status, headers and the body as text.
// A request that fails on the wire is an exchange with status 0, so a dead server shows in the report
// instead of aborting the run.

export interface OutgoingRequest {
  readonly method: string;
  /** The path with its parameters already filled in and encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: { readonly contentType: string; readonly raw: string };
}

export interface Exchange {
  readonly method: string;
  readonly path: string;
  /** 0 when no answer arrived. */
  readonly status: number;
  /** Lowercase names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

export type Send = (request: OutgoingRequest) => Promise<Exchange>;

/**
 * A sender bound to a base URL. Once `signal` aborts, every request fails at once (status 0).
 *
 * @example
 * const send = httpSender('http://127.0.0.1:8080', 10_000);
 * const res = await send({ method: 'GET', path: '/healthz' });
 */
export function httpSender(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Send {
  const base = baseUrl.replace(/\/+$/, '');
  return async (request) => {
    const url = new URL(`${base}${request.path}`);
    for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.append(k, v);
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['content-type'] = request.body.contentType;
    try {
      const response = await fetch(url, {
        method: request.method,
        headers,
        redirect: 'manual',
        signal:
          signal === undefined
            ? AbortSignal.timeout(timeoutMs)
            : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        ...(request.body === undefined ? {} : { body: request.body.raw }),
      });
      const text = await response.text();
      const out: Record<string, string> = {};
      response.headers.forEach((value, name) => (out[name.toLowerCase()] = value));
      return { method: request.method, path: request.path, status: response.status, headers: out, text };
    } catch (error) {
      return {
        method: request.method,
        path: request.path,
        status: 0,
        headers: {},
        text: `no answer: ${(error as Error).message}`,
      };
    }
  };
}
