// In the API suites, every answer an app built by a test gives is checked against the OpenAPI document
// (test/helpers/contract.ts); a suite whose answers broke it fails after its last test, listing how.
import { relative } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * The suites whose every answer must match the document. The other suites of test/api, test/auth,
 * test/billing, test/resources, test/compute and test/security join this list as each is shown clean.
 */
const checked = new Set([
  'test/auth/sdk-service.test.ts',
  'test/auth/revocation-feed.test.ts',
  'test/api/metrics.test.ts',
  'test/security/hostile-input.test.ts',
  'test/billing/metering.test.ts',
  'test/billing/auto-charge.test.ts',
  'test/api/domain-delete.test.ts',
  'test/api/generated-client.test.ts',
  'test/api/http.test.ts',
  'test/api/repeated-deletes.test.ts',
  'test/api/trusted-proxy.test.ts',
  'test/auth/keys-audit.test.ts',
  'test/auth/keys-cache.test.ts',
  'test/auth/keys-scopes-upgrade.test.ts',
  'test/auth/oidc-clients.test.ts',
  'test/auth/revocation-publisher.test.ts',
  'test/auth/sdk-package.test.ts',
  'test/auth/sdk-verifier.test.ts',
  'test/auth/sign-in.test.ts',
  'test/auth/signing-keys.test.ts',
  'test/billing/api.test.ts',
  'test/billing/stripe.test.ts',
  'test/compute/api.test.ts',
  'test/compute/volume-delete-servers.test.ts',
  'test/resources/api.test.ts',
  'test/resources/backends.test.ts',
  'test/resources/provisioning-path.test.ts',
  'test/resources/quotas.test.ts',
]);

let installed: (() => string[]) | null = null;

// eslint-disable-next-line no-empty-pattern -- vitest reads the fixtures a hook takes from its first argument
beforeAll(async ({}, file) => {
  const path = relative(process.cwd(), (file as { filepath?: string }).filepath ?? '');
  if (!checked.has(path)) return;
  // Loaded only for these suites: the rest never build an app, or test the server from outside.
  const [{ appHooks }, { checkAnswers, violations }] = await Promise.all([
    import('../../src/http/server.js'),
    import('../helpers/contract.js'),
  ]);
  appHooks.add(checkAnswers);
  installed = () => {
    appHooks.delete(checkAnswers);
    return [...violations];
  };
});

afterAll(() => {
  if (installed === null) return;
  const found = installed();
  installed = null;
  if (found.length > 0) {
    throw new Error(`answers the OpenAPI document does not declare:\n${found.sort().join('\n')}`);
  }
});
