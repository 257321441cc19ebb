/**
 * `bulkhead/sdk`: the SDK, which lives in its own package (`packages/sdk`, published as `@bulkhead/sdk`),
 * re-exported with its Fastify plugin (`@bulkhead/sdk/fastify` there) so that `bulkhead/sdk` keeps working.
 */
export * from '@bulkhead/sdk';
export { bulkheadFastify, type FastifyOptions } from '@bulkhead/sdk/fastify';
