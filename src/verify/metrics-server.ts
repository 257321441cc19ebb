// A listener for `bulkhead verify --every --metrics-port`: GET /metrics and nothing else. The body holds
// counts and verdicts only (see metrics.ts); with a token configured it also asks for `Bearer <token>`,
// compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config.js';

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Serves `registry` at http://host:port/metrics; port 0 picks a free one.
 *
 * @example
 * const server = await serveMetrics({ registry: metrics.registry, host: '127.0.0.1', port: 9464 });
 */
export async function serveMetrics(options: {
  registry: Registry;
  host: string;
  port: number;
  token?: string | undefined;
}): Promise<MetricsServer> {
  const expected = options.token === undefined ? null : digest(options.token);
  const server = createServer((request, response) => {
    const send = (status: number, body: string, headers: Record<string, string> = {}) =>
      response
        .writeHead(status, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          ...headers,
        })
        .end(body);
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') return send(404, 'not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return send(405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (expected !== null) {
      const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (presented === undefined || !timingSafeEqual(digest(presented), expected))
        return send(401, 'unauthenticated\n', { 'www-authenticate': 'Bearer' });
    }
    options.registry.metrics().then(
      (body) =>
        send(200, request.method === 'HEAD' ? '' : body, { 'content-type': options.registry.contentType }),
      () => send(500, 'internal error\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `cannot serve metrics on ${options.host}:${options.port}: ${error.code ?? error.message}`,
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
