// `bulkhead oauth-client` as a user runs it: the built CLI on an embedded data directory registers,
// lists and deletes a domain's OAuth clients (the same service the API runs, tested on both stores in
// auth/oidc-clients.test.ts), refuses a bad redirect URI as a usage error (exit 2), and never lists a secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, killAll, runCli, tempDir } from '../helpers/processes.js';

describe('bulkhead oauth-client', () => {
  const dir = tempDir();
  const cli = (...args: string[]) => runCli(['--data-dir', dir.path, ...args]);

  beforeAll(() => assertBuilt());
  afterAll(async () => {
    await killAll();
    dir.remove();
  });

  it(
    'registers, lists and deletes a client, and refuses a redirect URI with a fragment',
    { timeout: 240_000 },
    async () => {
      for (const slug of ['acme', 'beta']) {
        const made = await cli('domain', 'create', slug, '--name', slug);
        expect(made.code, made.stderr).toBe(0);
      }
      const created = await cli(
        'oauth-client',
        'create',
        'acme',
        '--name',
        'web',
        '--redirect-uri',
        'https://app.example/cb',
        '--json',
      );
      expect(created.code, created.stderr).toBe(0);
      const client = JSON.parse(created.stdout) as { id: string; clientId: string; clientSecret: string };
      expect(client.clientSecret).toMatch(/^bhs_/);
      const listed = await cli('oauth-client', 'list', 'acme', '--json');
      expect(listed.code, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { id: string }[]).map((c) => c.id)).toEqual([client.id]);
      expect(listed.stdout).not.toContain(client.clientSecret);
      const bad = await cli(
        'oauth-client',
        'create',
        'acme',
        '--name',
        'x',
        '--redirect-uri',
        'https://a/cb#f',
      );
      expect(bad.code).toBe(2); // a refused value is a usage error, as a confusable slug is
      expect(bad.stderr).toContain('fragment');
      // Another domain does not have it.
      const foreign = await cli('oauth-client', 'delete', 'beta', client.id);
      expect(foreign.code).toBe(1);
      const deleted = await cli('oauth-client', 'delete', 'acme', client.id);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(JSON.parse((await cli('oauth-client', 'list', 'acme', '--json')).stdout)).toEqual([]);
    },
  );
});
