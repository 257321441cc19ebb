import { defineConfig } from 'vitest/config';

/**
 * The suites that run other processes: the built CLI, `bulkhead serve`, PgBouncer, Chromium, a soak of
 * servers killed mid-request. Each of them keeps a core busy on its own and some time leases and tokens,
 * so they run one file at a time, after the rest.
 */
const processSuites = [
  'test/cli/**/*.test.ts',
  'test/soak/**/*.test.ts',
  'test/verify/bulkhead.test.ts',
  'test/verify/schedule.test.ts',
  'test/resources/provisioning-crash.test.ts',
  'test/docs/readme.test.ts',
  'test/billing/close-crash.test.ts',
  'test/billing/retention.test.ts',
  'test/auth/revocation-multi-process.test.ts',
  'test/providers/kubernetes.test.ts',
  'test/store/pgbouncer.test.ts',
  'test/portal/browser.test.ts',
  'test/unit/exports.test.ts',
];

export default defineConfig({
  // @bulkhead/sdk (packages/sdk) is tested from its TypeScript sources, like the server, not from a build.
  // The rest is Vite's default list for the server side without `module`: a dependency's "module" build
  // is written for bundlers (@opentelemetry/api's imports its files without extensions, which Node
  // cannot load), and Node itself never picks it.
  ssr: { resolve: { conditions: ['@bulkhead/source', 'node', 'development|production'] } },
  test: {
    // Checks once that PostgreSQL, Redis, RabbitMQ and PgBouncer are there as the tests need them, and
    // stops the run with one message saying what to run when they are not. Then makes the migrated
    // embedded database the in-memory stores start from.
    globalSetup: ['test/setup/global-setup.ts', 'test/setup/pglite-image.ts'],
    // Checks every answer of the API suites against the OpenAPI document.
    setupFiles: ['test/setup/answers.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
    projects: [
      {
        // The suites that run in the test process: half their time is spent waiting for PostgreSQL,
        // so two at once on two cores finish a third sooner.
        extends: true,
        test: {
          name: 'in-process',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: processSuites,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'processes',
          include: processSuites,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
