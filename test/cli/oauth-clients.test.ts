// `bulkhead oauth-client` as a user runs it: the built CLI on an embedded data directory registers,
// lists and deletes a domain's OAuth clients (the same service the API runs, tested on both stores in
// auth/oidc-clients.test.ts), refuses a bad redirect URI as a usage error (exit 2), and never lists a secret.
// A private_key_jwt client takes its public keys from a JSON file (--jwks), and any client its
// post-logout redirect URIs.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it(
    'registers a private_key_jwt client from a JWKS file, with post-logout redirect URIs',
    { timeout: 240_000 },
    async () => {
      const made = await cli('domain', 'create', 'gamma', '--name', 'gamma');
      expect(made.code, made.stderr).toBe(0);
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA' };
      const setFile = join(dir.path, 'client-jwks.json');
      writeFileSync(setFile, JSON.stringify({ keys: [jwk] }));
      const created = await cli(
        'oauth-client',
        'create',
        'gamma',
        '--name',
        'backend',
        '--auth-method',
        'private_key_jwt',
        '--jwks',
        setFile,
        '--redirect-uri',
        'https://app.example/cb',
        '--post-logout-redirect-uri',
        'https://app.example/signed-out',
        '--post-logout-redirect-uri',
        'https://app.example/bye',
        '--json',
      );
      expect(created.code, created.stderr).toBe(0);
      const client = JSON.parse(created.stdout) as {
        clientSecret?: string;
        tokenEndpointAuthMethod: string;
        postLogoutRedirectUris: string[];
      };
      expect(client.tokenEndpointAuthMethod).toBe('private_key_jwt');
      expect(client.clientSecret).toBeUndefined();
      expect(client.postLogoutRedirectUris).toEqual([
        'https://app.example/signed-out',
        'https://app.example/bye',
      ]);
      // One JWK alone is a set of one; a private key, a missing file and a bad post-logout URI are refused.
      const oneFile = join(dir.path, 'client-jwk.json');
      writeFileSync(oneFile, JSON.stringify(jwk));
      const one = await cli(
        'oauth-client',
        'create',
        'gamma',
        '--name',
        'one',
        '--auth-method',
        'private_key_jwt',
        '--jwks',
        oneFile,
        '--grant',
        'client_credentials',
      );
      expect(one.code, one.stderr).toBe(0);
      const privateFile = join(dir.path, 'private-jwk.json');
      writeFileSync(privateFile, JSON.stringify(privateKey.export({ format: 'jwk' })));
      const refusals: [string[], string][] = [
        [['--auth-method', 'private_key_jwt', '--jwks', privateFile], 'public keys only'],
        [['--auth-method', 'private_key_jwt', '--jwks', join(dir.path, 'missing.json')], 'Cannot read'],
        [['--post-logout-redirect-uri', 'http://app.example/out'], 'https'],
      ];
      for (const [args, message] of refusals) {
        const refused = await cli(
          'oauth-client',
          'create',
          'gamma',
          '--name',
          'x',
          '--redirect-uri',
          'https://app.example/cb',
          ...args,
        );
        expect(refused.code, args.join(' ')).toBe(2);
        expect(refused.stderr).toContain(message);
      }
    },
  );
});
