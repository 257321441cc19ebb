/**
 * `@bulkhead/sdk` (also `bulkhead/sdk`): verify Bulkhead access tokens in other services and enforce the
 * domain on every request. Depends on jose only; ioredis (for createRevocationFeed) and fastify (for
 * bulkheadFastify's types) are optional peers.
 *
 * @example
 * import { createVerifier, bulkheadFastify } from '@bulkhead/sdk';
 * const verifier = createVerifier({ issuer: 'https://bulkhead.example', jwksUri: 'https://bulkhead.example/.well-known/jwks.json' });
 * await app.register(bulkheadFastify, { verifier, domainOf: (req) => (req.params as { domainId: string }).domainId });
 */
export {
  createVerifier,
  TokenRefused,
  type Verifier,
  type VerifierOptions,
  type VerifiedToken,
} from './verifier.js';
export { bulkheadFastify, bulkheadMiddleware, type FastifyOptions, type NodeOptions } from './middleware.js';
export {
  createRevocationFeed,
  type FeedRejection,
  type RevocationEvent,
  type RevocationFeed,
  type RevocationFeedCounters,
  type RevocationFeedOptions,
} from './feed.js';
