import { defineConfig } from 'vitest/config';

export default defineConfig({
  // @bulkhead/sdk (packages/sdk) is tested from its TypeScript sources, like the server, not from a build
  // (the rest is Vite's default list for the server side, but 'module': Node's require would then load
  // @opentelemetry/api's ESM build, an optional import of prom-client, whose imports do not resolve).
  ssr: { resolve: { conditions: ['@bulkhead/source', 'node', 'development|production'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Checks once that PostgreSQL, Redis, RabbitMQ and PgBouncer are there as the tests need them, and
    // stops the run with one message saying what to run when they are not.
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
