/**
 * `bulkhead/sdk`: the SDK, which lives in its own package (`packages/sdk`, published as `@bulkhead/sdk`),
 * re-exported so that `bulkhead/sdk` keeps working.
 */
export * from '@bulkhead/sdk';
