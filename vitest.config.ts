import { defineConfig } from 'vitest/config';

export default defineConfig({
  // @bulkhead/sdk (packages/sdk) is tested from its TypeScript sources, like the server, not from a build.
  // The rest is Vite's default list for the server side without `module`: a dependency's "module" build
  // is written for bundlers (@opentelemetry/api's imports its files without extensions, which Node
  // cannot load), and Node itself never picks it.
  ssr: { resolve: { conditions: ['@bulkhead/source', 'node', 'development|production'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Checks once that PostgreSQL, Redis, RabbitMQ and PgBouncer are there as the tests need them, and
    // stops the run with one message saying what to run when they are not.
    // Then makes the migrated embedded database the in-memory stores start from.
    globalSetup: ['test/setup/global-setup.ts', 'test/setup/pglite-image.ts'],
    // Checks every answer of the API suites against the OpenAPI document.
    setupFiles: ['test/setup/answers.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
