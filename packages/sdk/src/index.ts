/**
 * `@bulkhead/sdk`: verify Bulkhead access tokens in other services and enforce the domain on every
 * request. Depends on jose only; ioredis (for createRevocationFeed) and fastify (for the types of
 * `@bulkhead/sdk/fastify`) are optional peers. `bulkhead/sdk` re-exports this and the Fastify plugin.
 *
 * @example
 * import { createVerifier } from '@bulkhead/sdk';
 * import { bulkheadFastify } from '@bulkhead/sdk/fastify';
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
export { bulkheadMiddleware, type NodeOptions } from './middleware.js';
// bulkheadFastify is `@bulkhead/sdk/fastify`, so that this entry point refers to nothing of Fastify.
export {
  createRevocationFeed,
  type FeedRejection,
  type RevocationEvent,
  type RevocationFeed,
  type RevocationFeedCounters,
  type RevocationFeedOptions,
} from './feed.js';
