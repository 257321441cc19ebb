// Adapters that put the verifier in front of a service's routes. The service says which domain a
// request's resource belongs to; a token of any other domain is refused with the same 401 as a bad one.
import type { IncomingMessage, ServerResponse } from 'node:http';
// Fastify is an optional peer: only its types are imported, so a service without it loads nothing of it.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { TokenRefused, type VerifiedToken, type Verifier } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    bulkhead: VerifiedToken | null;
  }
}

const unauthorized = JSON.stringify({
  code: 'invalid_credentials',
  title: 'The credentials are not valid',
  status: 401,
});

function bearerOf(header: string | undefined): string | null {
  const m = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(header ?? '');
  return m === null ? null : m[1]!;
}

export interface FastifyOptions {
  readonly verifier: Verifier;
  /** The domain of the resource the request addresses (from the path, the host, a lookup…). */
  readonly domainOf: (request: FastifyRequest) => string | null | Promise<string | null>;
}

/**
 * A Fastify plugin: every route below it needs a valid token of the resource's own domain.
 *
 * @example
 * await app.register(bulkheadFastify, { verifier, domainOf: (req) => (req.params as { domainId: string }).domainId });
 */
const plugin: FastifyPluginCallback<FastifyOptions> = (app, options, done) => {
  if (typeof options.verifier?.verify !== 'function' || typeof options.domainOf !== 'function') {
    done(new TypeError('bulkheadFastify: verifier and domainOf are required'));
    return;
  }
  app.decorateRequest('bulkhead', null);
  app.addHook('preHandler', async (request, reply) => {
    const token = bearerOf(request.headers.authorization);
    const domainId = await options.domainOf(request);
    try {
      if (token === null || domainId === null) throw new TokenRefused('missing');
      request.bulkhead = await options.verifier.verify(token, domainId);
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .type('application/problem+json')
        .send(unauthorized);
    }
  });
  done();
};

/**
 * Applies to the routes of the scope it is registered in (not only its own): the markers fastify-plugin
 * sets, written here so the package needs nothing but jose. Fastify reads `skip-override` to register
 * the plugin without a scope of its own, and `plugin-meta` for its name and the Fastify versions it takes.
 */
export const bulkheadFastify: FastifyPluginCallback<FastifyOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'bulkhead-sdk',
  [Symbol.for('plugin-meta')]: { name: 'bulkhead-sdk', fastify: '5.x' },
});

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
