// Sends one request and keeps everything the prober compares: status, headers and the body as text.
// A request that fails on the wire is an exchange with status 0, so a dead server shows in the report
// instead of aborting the run. A request that names its own `host` (a tenant's host on a server that
// serves one site per host, e.g. Bulkhead's portal) is sent to the base URL's address with that Host
// header and, over TLS, that server name: fetch cannot set Host, so it goes through node:http(s).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

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
    const host = Object.keys(headers).find((h) => h.toLowerCase() === 'host');
    if (host !== undefined) return sendToHost(url, headers[host]!, request, headers, timeoutMs, signal);
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

/** One request to `url`'s address with the Host header (and TLS server name) `host`. */
function sendToHost(
  url: URL,
  host: string,
  request: OutgoingRequest,
  headers: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Exchange> {
  const failed = (message: string): Exchange => ({
    method: request.method,
    path: request.path,
    status: 0,
    headers: {},
    text: `no answer: ${message}`,
  });
  return new Promise((resolve) => {
    const tls = url.protocol === 'https:';
    const options = {
      method: request.method,
      headers:
        request.body === undefined
          ? headers
          : { ...headers, 'content-length': String(Buffer.byteLength(request.body.raw)) },
      signal:
        signal === undefined
          ? AbortSignal.timeout(timeoutMs)
          : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      ...(tls ? { servername: host.replace(/:[0-9]+$/, '') } : {}),
    };
    const answer = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (error) => resolve(failed(error.message)));
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers))
          if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        resolve({
          method: request.method,
          path: request.path,
          status: res.statusCode ?? 0,
          headers: out,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    };
    const req = tls ? httpsRequest(url, options, answer) : httpRequest(url, options, answer);
    req.on('error', (error) => resolve(failed(error.message)));
    req.end(request.body?.raw);
  });
}
