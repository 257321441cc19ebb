// Adapters that put the verifier in front of a service's routes. The service says which domain a
// request's resource belongs to; a token of any other domain is refused with the same 401 as a bad one.
// This one is for Express and plain Node; fastify.ts (`@bulkhead/sdk/fastify`) is Fastify's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenRefused, type VerifiedToken, type Verifier } from './verifier.js';

/** The body of every 401: the same whatever was wrong with the token. */
export const unauthorized = JSON.stringify({
  code: 'invalid_credentials',
  title: 'The credentials are not valid',
  status: 401,
});

/** The token of an `Authorization: Bearer …` header, or null. */
export function bearerOf(header: string | undefined): string | null {
  const m = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header ?? '');
  return m === null ? null : m[1]!;
}

export interface NodeOptions {
  readonly verifier: Verifier;
  readonly domainOf: (request: IncomingMessage) => string | null | Promise<string | null>;
}

/**
 * Express-compatible middleware: `(req, res, next)`. Sets `req.bulkhead` on success.
 *
 * @example
 * app.use(bulkheadMiddleware({ verifier, domainOf: (req) => req.headers['x-resource-domain'] as string }));
 */
export function bulkheadMiddleware(options: NodeOptions) {
  if (typeof options.verifier?.verify !== 'function' || typeof options.domainOf !== 'function') {
    throw new TypeError('bulkheadMiddleware: verifier and domainOf are required');
  }
  return (
    req: IncomingMessage & { bulkhead?: VerifiedToken },
    res: ServerResponse,
    next: (error?: unknown) => void,
  ): void => {
    void (async () => {
      const token = bearerOf(req.headers.authorization);
      const domainId = await options.domainOf(req);
      if (token === null || domainId === null) throw new TokenRefused('missing');
      req.bulkhead = await options.verifier.verify(token, domainId);
    })().then(
      () => next(),
      (error: unknown) => {
        if (!(error instanceof TokenRefused)) return next(error);
        res.writeHead(401, {
          'content-type': 'application/problem+json',
          'www-authenticate': 'Bearer error="invalid_token"',
        });
        res.end(unauthorized);
      },
    );
  };
}
