// The Fastify adapter, apart from the rest (`@bulkhead/sdk/fastify`) because it is the only part that
// refers to Fastify: its types only (Fastify is an optional peer), so nothing of Fastify is loaded, and a
// service that does not use Fastify never needs its types either.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { bearerOf, unauthorized } from './middleware.js';
import { TokenRefused, type VerifiedToken, type Verifier } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    bulkhead: VerifiedToken | null;
  }
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
