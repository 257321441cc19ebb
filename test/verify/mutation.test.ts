// The attacks are what find the planted flaws: with one attack kind left out, the flaw it finds goes
// unnoticed (the run is clean), and with it the same run finds it. So a test of a flaw cannot pass
// because of some other attack, and an attack that stopped working would fail its flaw's test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configTarget, loadVerifyConfig } from '../../src/verify/config-target.js';
import { httpSender } from '../../src/verify/http.js';
import { parseApiDescription } from '../../src/verify/openapi.js';
import { probe } from '../../src/verify/probe.js';
import {
  noFlaws,
  noOAuthFlaws,
  noTokenFlaws,
  oauthFlawAttack,
  type OAuthFlaws,
  startVulnerableService,
  tokenFlawAttack,
  verifyConfig,
  type CookieFlaws,
  type Flaws,
  type TokenFlaws,
} from '../fixtures/vulnerable-service.js';
import { tempDir } from '../helpers/processes.js';

const dir = tempDir('bulkhead-verify-mutation-');
afterAll(() => dir.remove());

/** The leaks' attack kinds of one in-process run, with `omit` left out. */
async function leakKinds(
  flaws: Flaws,
  tokenFlaws: TokenFlaws,
  omit: string[],
  cookieFlaws: CookieFlaws = { missingCsrf: false },
  oauthFlaws?: OAuthFlaws,
): Promise<string[]> {
  const service = await startVulnerableService(flaws, {
    tokenFlaws,
    cookieFlaws,
    ...(oauthFlaws === undefined ? {} : { oauthFlaws }),
  });
  try {
    const file = join(dir.path, `config-${Math.random().toString(36).slice(2)}.json`);
    const cookies = cookieFlaws.missingCsrf || cookieFlaws.cookieAnyHost === true;
    writeFileSync(
      file,
      JSON.stringify(
        verifyConfig(service, 'BRAVO-SECRET-mutation', {
          cookies,
          hosts: cookieFlaws.cookieAnyHost === true,
          oauth: oauthFlaws !== undefined,
        }),
      ),
    );
    const config = await loadVerifyConfig(file, {
      ALPHA_KEY: service.tenants.a.key,
      BRAVO_KEY: service.tenants.b.key,
      ALPHA_TOKEN: service.tenants.a.token,
      ISSUER_KEY: service.issuerKey,
    });
    const target = configTarget(config);
    const setup = await target.setup();
    try {
      const send = httpSender(setup.baseUrl, 10_000);
      const { checks } = await probe(parseApiDescription(service.spec), setup, send, { omit });
      return [...new Set(checks.filter((c) => c.verdict === 'leak').map((c) => c.attack))].sort();
    } finally {
      await target.teardown();
    }
  } finally {
    await service.close();
  }
}

describe('each attack is what finds its flaw', () => {
  it.each(Object.entries(tokenFlawAttack) as [keyof TokenFlaws, string][])(
    'token flaw %s: found by %s, and unnoticed without it',
    async (flaw, attack) => {
      const on = { ...noTokenFlaws, [flaw]: true };
      expect(await leakKinds(noFlaws, on, [])).toEqual([attack]);
      expect(await leakKinds(noFlaws, on, [attack])).toEqual([]);
    },
  );

  it.each(Object.entries(oauthFlawAttack) as [keyof OAuthFlaws, string][])(
    'OAuth flaw %s: found by %s, and unnoticed without it',
    async (flaw, attack) => {
      const on = { ...noOAuthFlaws, [flaw]: true };
      const none = { missingCsrf: false };
      expect(await leakKinds(noFlaws, noTokenFlaws, [], none, on)).toEqual([attack]);
      expect(await leakKinds(noFlaws, noTokenFlaws, [attack], none, on)).toEqual([]);
    },
  );

  it('a cookie accepted on any host: found by cross-host, and unnoticed without it', async () => {
    const cookieFlaws = { missingCsrf: false, cookieAnyHost: true };
    expect(await leakKinds(noFlaws, noTokenFlaws, [], cookieFlaws)).toEqual(['cross-host']);
    expect(await leakKinds(noFlaws, noTokenFlaws, ['cross-host'], cookieFlaws)).toEqual([]);
  });

  it('a missing CSRF check: found by csrf, and unnoticed without it', async () => {
    const cookieFlaws = { missingCsrf: true };
    expect(await leakKinds(noFlaws, noTokenFlaws, [], cookieFlaws)).toEqual(['csrf']);
    expect(await leakKinds(noFlaws, noTokenFlaws, ['csrf'], cookieFlaws)).toEqual([]);
  });

  it('an issuer that answers for the tenant its path names: found by foreign-tenant, and unnoticed without it', async () => {
    const flaws = { ...noFlaws, issuerFromPath: true };
    expect(await leakKinds(flaws, noTokenFlaws, [])).toEqual(['foreign-tenant']);
    expect(await leakKinds(flaws, noTokenFlaws, ['foreign-tenant'])).toEqual([]);
  });

  it('the parent-checked child: found by mixed-owner, and unnoticed without it', async () => {
    const flaws = { ...noFlaws, childIgnoresParent: true };
    expect(await leakKinds(flaws, noTokenFlaws, [])).toEqual(['mixed-owner']);
    expect(await leakKinds(flaws, noTokenFlaws, ['mixed-owner'])).toEqual([]);
  });
});
