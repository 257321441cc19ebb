// `bulkhead verify` against a service with planted isolation flaws: every flaw that is on is reported
// as a leak on the operation that has it, and with every flaw off the same run is clean. The CLI runs
// in-process against the real service over HTTP; nothing is mocked.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Log as SarifLog } from 'sarif';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { VerifyReport } from '../../src/verify/report.js';
import { unknownId, sampleValue } from '../../src/verify/samples.js';
import { parseApiDescription } from '../../src/verify/openapi.js';
import { tokenAttacks } from '../../src/verify/tokens.js';
import {
  allFlaws,
  flawOperation,
  noFlaws,
  noOAuthFlaws,
  noTokenFlaws,
  oauthFlawAttack,
  type OAuthFlaws,
  startVulnerableService,
  tokenFlawAttack,
  type TokenFlaws,
  verifyConfig,
  type Flaws,
  type VulnerableService,
} from '../fixtures/vulnerable-service.js';
import { tempDir } from '../helpers/processes.js';

const bSecret = 'BRAVO-SECRET-7f3a9c';
const dir = tempDir('bulkhead-verify-');
afterAll(() => dir.remove());

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    ['node', 'bulkhead', ...args],
    { out: (l) => out.push(l), err: (l) => err.push(l), input: () => Promise.resolve('') },
    env,
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let files = 0;
function file(content: unknown): string {
  const path = join(dir.path, `f${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const serviceEnv = (service: VulnerableService) => ({
  ALPHA_KEY: service.tenants.a.key,
  BRAVO_KEY: service.tenants.b.key,
  ALPHA_TOKEN: service.tenants.a.token,
  ISSUER_KEY: service.issuerKey,
});

async function verifyService(
  flaws: Flaws,
  format = 'json',
  tokenFlaws: TokenFlaws = noTokenFlaws,
  oauthFlaws?: OAuthFlaws,
): Promise<{ run: Run; report?: VerifyReport }> {
  const service = await startVulnerableService(flaws, {
    tokenFlaws,
    ...(oauthFlaws === undefined ? {} : { oauthFlaws }),
  });
  try {
    const run = await cli(
      [
        'verify',
        '--spec',
        file(JSON.stringify(service.spec, null, 2)),
        '--config',
        file(verifyConfig(service, bSecret, { oauth: oauthFlaws !== undefined })),
        '--format',
        format,
      ],
      serviceEnv(service),
    );
    return { run, ...(format === 'json' ? { report: JSON.parse(run.out) as VerifyReport } : {}) };
  } finally {
    await service.close();
  }
}

/** The token attack kinds the fixture's configuration gives rise to (it names no foreign issuer). */
const tokenAttackKinds = Object.keys(tokenAttacks)
  .filter((k) => k !== 'foreign-issuer')
  .map((k) => `token[${k}]`);

const leakedOperations = (report: VerifyReport) =>
  [
    ...new Set(
      report.checks.filter((c) => c.verdict === 'leak' && c.attack !== 'b-state').map((c) => c.operation),
    ),
  ].sort();

describe('bulkhead verify on a service with planted flaws', () => {
  it('reports nothing when every flaw is switched off, and exercises every operation', async () => {
    const { run, report } = await verifyService(noFlaws);
    expect(run.code, run.err).toBe(0);
    expect(report!.ok).toBe(true);
    expect(report!.summary.leaks).toBe(0);
    expect(report!.summary.skipped).toBe(0);
    expect(report!.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    const coverage = Object.fromEntries(report!.operations.map((o) => [o.operation, o.coverage]));
    expect(coverage).toEqual({
      'GET /health': 'not_applicable',
      'GET /profile': 'exercised',
      'GET /usage': 'exercised',
      'GET /items': 'exercised',
      'POST /items': 'exercised',
      'GET /items/{itemId}': 'exercised',
      'PATCH /items/{itemId}': 'exercised',
      'DELETE /items/{itemId}': 'exercised',
      'POST /items/{itemId}/links': 'exercised',
      'POST /items/{itemId}/notes': 'exercised',
      'GET /items/{itemId}/notes/{noteId}': 'exercised',
      'GET /issuers/{issuer}/userinfo': 'exercised',
      'GET /tenants/{tenantId}': 'exercised',
      'GET /tenants/{tenantId}/projects': 'exercised',
      'GET /tenants/{tenantId}/projects/{projectId}': 'exercised',
    });
    // Every attack kind ran somewhere.
    expect(new Set(report!.checks.map((c) => c.attack))).toEqual(
      new Set([
        'foreign',
        'foreign-id',
        'foreign-tenant',
        'foreign-body',
        'mixed-owner',
        'own',
        'smuggle-query',
        'smuggle-body',
        'smuggle-header',
        ...tokenAttackKinds,
      ]),
    );
    // Every operation A may call got every forged token, each refused like no credential.
    for (const o of report!.operations.filter((o) => o.coverage === 'exercised'))
      expect(
        report!.checks.filter((c) => c.operation === o.operation && c.attack.startsWith('token[')).length,
        o.operation,
      ).toBeGreaterThanOrEqual(tokenAttackKinds.length);
    // A's key at B's issuer (whose name is public) is refused as no credential is, though an unknown
    // issuer is 404.
    expect(
      report!.checks.find((c) => c.operationId === 'issuerUserinfo' && c.attack === 'foreign-tenant'),
    ).toMatchObject({ verdict: 'pass', got: '401 as without a credential' });
    // A's own item linked to B's item (B's id in the body) answers like an unknown target.
    expect(
      report!.checks.find((c) => c.operationId === 'linkItem' && c.attack === 'foreign-body'),
    ).toMatchObject({ verdict: 'pass', got: '404 = unknown id' });
    expect(report!.cleanup).toEqual([]);
    expect(run.err).toMatch(
      /^bulkhead verify: clean: 0 leaks; 14 of 14 tenant operations exercised .* elapsed \d+\.\d s$/m,
    );
  });

  it('finds every planted flaw, each on its own operation', async () => {
    const { run, report } = await verifyService(allFlaws);
    expect(run.code).toBe(1);
    expect(report!.ok).toBe(false);
    expect(leakedOperations(report!)).toEqual(Object.values(flawOperation).sort());
  });

  it.each(Object.keys(flawOperation) as (keyof Flaws)[])(
    'finds %s alone, on its operation and no other',
    async (flaw) => {
      const { run, report } = await verifyService({ ...noFlaws, [flaw]: true });
      expect(run.code).toBe(1);
      expect(leakedOperations(report!)).toEqual([flawOperation[flaw]]);
      const leaks = report!.checks.filter((c) => c.verdict === 'leak' && c.operation === flawOperation[flaw]);
      const attacks = new Set(leaks.map((c) => c.attack));
      switch (flaw) {
        case 'queryTenant':
          expect([...attacks]).toEqual(['smuggle-query']);
          expect(leaks[0]!.got).toMatch(/(^|; )tenantId: 200, answer holds B's id/);
          break;
        case 'forbiddenNotFound':
          expect([...attacks]).toEqual(['foreign-id']);
          expect(leaks[0]!.got).toMatch(/^403; unknown id: 404; status 403 vs 404$/);
          break;
        case 'listLeak':
        case 'echoOtherTenant':
          expect([...attacks]).toEqual(['own']);
          expect(leaks[0]!.got).toMatch(/answer holds .*B's itemId.*B's secret #1/);
          break;
        case 'bodyForeignId':
          // A's own item linked to B's: only the attack with B's id in the body finds it.
          expect([...attacks]).toEqual(['foreign-body']);
          expect(leaks.map((c) => c.credential)).toEqual(['apiKey']);
          expect(leaks[0]!.got).toMatch(/^201: accepted \(unknown id: 404\)$/);
          break;
        case 'childIgnoresParent': {
          // A's item with B's note: only the mixed-owner attack finds it, and it names the note.
          expect([...attacks]).toEqual(['mixed-owner']);
          expect(leaks.map((c) => c.parameters)).toEqual([['noteId']]);
          expect(leaks[0]!.got).toMatch(/^200: accepted \(unknown id: 404\)$/);
          // The other mix (B's item, A's note) and the all-B attack pass.
          const checks = report!.checks.filter((c) => c.operation === flawOperation[flaw]);
          expect(
            checks.filter((c) => c.attack === 'mixed-owner' && c.verdict === 'pass').map((c) => c.parameters),
          ).toEqual([['itemId']]);
          expect(checks.find((c) => c.attack === 'foreign')?.verdict).toBe('pass');
          break;
        }
        case 'issuerFromPath': {
          // A's credential at B's public issuer: only the comparison with no credential there finds it.
          expect([...attacks]).toEqual(['foreign-tenant']);
          expect(leaks[0]!.got).toMatch(/^200: accepted \(without a credential: 401\)$/);
          break;
        }
        case 'updateIgnoresOwner': {
          // Found by the foreign attack; the same update with B smuggled in is accepted too, and B's own
          // read shows its item renamed (blamed on the attacks on B's ids, then on this operation).
          expect(leaks.find((c) => c.attack === 'foreign')!.got).toMatch(
            /^200: accepted \(unknown id: 404\)/,
          );
          expect([...attacks].sort()).toEqual(['b-state', 'foreign']);
          const state = report!.checks.filter((c) => c.attack === 'b-state');
          expect(state.map((c) => [c.operation, c.verdict])).toEqual([
            ['GET /items/{itemId}', 'leak'],
            ['PATCH /items/{itemId}', 'leak'],
          ]);
          break;
        }
      }
    },
  );

  it.each(Object.keys(tokenFlawAttack) as (keyof TokenFlaws)[])(
    'finds the token flaw %s alone, blaming its attack kind and no other',
    async (flaw) => {
      const { run, report } = await verifyService(noFlaws, 'json', { ...noTokenFlaws, [flaw]: true });
      expect(run.code).toBe(1);
      const leaks = report!.checks.filter((c) => c.verdict === 'leak');
      expect([...new Set(leaks.map((c) => c.attack))]).toEqual([tokenFlawAttack[flaw]]);
      // Found at every operation A's token reaches with the genuine check before the forged ones.
      expect(new Set(leaks.map((c) => c.operation)).size).toBeGreaterThanOrEqual(5);
      expect(leaks[0]!.credential).toBe('token');
      if (flaw === 'fetchesJku') expect(leaks[0]!.got).toMatch(/the listener was asked for \/jku\//);
      else expect(leaks[0]!.got).toMatch(/: 20[01]: accepted/);
    },
  );

  it("attacks each tenant's authorization server with the other's tokens and client, and stays clean when it holds", async () => {
    const { run, report } = await verifyService(noFlaws, 'json', noTokenFlaws, noOAuthFlaws);
    expect(run.code, run.err).toBe(0);
    expect(
      report!.operations
        .filter((o) => o.operation.startsWith('oauth:'))
        .map((o) => [o.operation, o.coverage]),
    ).toEqual([
      ['oauth:introspection', 'exercised'],
      ['oauth:token', 'exercised'],
      ['oauth:revocation', 'exercised'],
    ]);
    expect(
      report!.checks.filter((c) => c.attack.startsWith('oauth[')).map((c) => [c.attack, c.credential, c.got]),
    ).toEqual([
      ['oauth[foreign-token]', "B's client", '200 = unknown'],
      ['oauth[foreign-client]', "A's client", '401 = unknown'],
      ['oauth[foreign-client]', "A's client", '401 = unknown'],
      ['oauth[foreign-refresh]', "B's client", '400 = unknown'],
      ['oauth[foreign-refresh]', 'no client', '400 = unknown'],
      ['oauth[foreign-revocation]', "B's client", 'still active'],
      ['oauth[foreign-revocation]', "B's client", '200'],
    ]);
  });

  it.each(Object.keys(oauthFlawAttack) as (keyof OAuthFlaws)[])(
    'finds the OAuth flaw %s alone, blaming its attack kind and no other',
    async (flaw) => {
      const { run, report } = await verifyService(noFlaws, 'json', noTokenFlaws, {
        ...noOAuthFlaws,
        [flaw]: true,
      });
      expect(run.code).toBe(1);
      const leaks = report!.checks.filter((c) => c.verdict === 'leak');
      expect([...new Set(leaks.map((c) => c.attack))]).toEqual([oauthFlawAttack[flaw]]);
    },
  );

  it.each([false, true])(
    'sends every change of a cookie session from a third origin (missing CSRF check: %s)',
    async (missingCsrf) => {
      const service = await startVulnerableService(noFlaws, { cookieFlaws: { missingCsrf } });
      try {
        const run = await cli(
          [
            'verify',
            '--spec',
            file(service.spec),
            '--config',
            file(verifyConfig(service, bSecret, { cookies: true })),
            '--format',
            'json',
          ],
          serviceEnv(service),
        );
        const report = JSON.parse(run.out) as VerifyReport;
        const csrf = report.checks.filter((c) => c.attack === 'csrf');
        // Every state-changing operation A has ids for, with A's session.
        expect(csrf.map((c) => `${c.operation} ${c.credential}`).sort()).toEqual(
          [
            'DELETE /items/{itemId}',
            'PATCH /items/{itemId}',
            'POST /items',
            'POST /items/{itemId}/links',
            'POST /items/{itemId}/notes',
          ].map((o) => `${o} session`),
        );
        const leaks = report.checks.filter((c) => c.verdict === 'leak');
        if (!missingCsrf) {
          expect(run.code, run.err).toBe(0);
          expect(csrf.every((c) => c.verdict === 'pass' && c.got === '401 (refused)')).toBe(true);
        } else {
          expect(run.code).toBe(1);
          expect([...new Set(leaks.map((c) => c.attack))]).toEqual(['csrf']);
          expect(leaks.map((c) => c.operation).sort()).toEqual(csrf.map((c) => c.operation).sort());
          expect(leaks[0]!.got).toMatch(/^201: accepted from https:\/\/bulkhead-verify\.invalid$/);
        }
      } finally {
        await service.close();
      }
    },
  );

  it.each([false, true])(
    "replays A's portal cookie at B's host on every page and form (cookie accepted on any host: %s)",
    async (cookieAnyHost) => {
      const service = await startVulnerableService(noFlaws, {
        cookieFlaws: { missingCsrf: false, cookieAnyHost },
      });
      try {
        const run = await cli(
          [
            'verify',
            '--spec',
            file(service.spec),
            '--config',
            file(verifyConfig(service, bSecret, { hosts: true })),
            '--format',
            'json',
          ],
          serviceEnv(service),
        );
        const report = JSON.parse(run.out) as VerifyReport;
        const pages = report.checks.filter((c) => c.operation.startsWith('page:'));
        // Every route at B's host with A's cookie; the form also from a third origin at A's host.
        expect(pages.map((c) => `${c.operation} ${c.attack}`)).toEqual([
          'page:GET /app cross-host',
          'page:POST /app/items cross-host',
          'page:POST /app/items csrf',
        ]);
        expect(
          report.operations.filter((o) => o.operation.startsWith('page:')).map((o) => o.coverage),
        ).toEqual(['exercised', 'exercised']);
        const leaks = report.checks.filter((c) => c.verdict === 'leak');
        if (!cookieAnyHost) {
          expect(run.code, run.err).toBe(0);
          expect(pages.map((c) => c.got)).toEqual(['401 as without', '401 as without', '403 (refused)']);
        } else {
          expect(run.code).toBe(1);
          // Exactly the flawed page, under its attack kind: A's dashboard shown at B's host.
          expect(leaks.map((c) => [c.operation, c.attack])).toEqual([['page:GET /app', 'cross-host']]);
          expect(leaks[0]!.got).toBe(
            "A's cookie accepted at B's host: 200, without a cookie 401; the answer shows A's \"Alpha items\"",
          );
        }
      } finally {
        await service.close();
      }
    },
  );

  it('prints a table with the elapsed time, and JUnit XML with one failure per leak', async () => {
    const table = await verifyService({ ...noFlaws, forbiddenNotFound: true }, 'table');
    expect(table.run.code).toBe(1);
    const lines = table.run.out.split('\n');
    expect(lines[0]).toMatch(/^OPERATION\s+ATTACK\s+EXPECTED\s+GOT\s+VERDICT$/);
    expect(table.run.out).toMatch(
      /^GET \/tenants\/\{tenantId\}\/projects\/\{projectId\}\s+foreign-id:apiKey\s+.*\sleak$/m,
    );
    expect(table.run.out).toContain('LEAKS (1):');
    expect(lines.at(-1)).toMatch(/^bulkhead verify: LEAK: 1 leaks; .* elapsed \d+\.\d s$/);

    const junit = await verifyService({ ...noFlaws, listLeak: true }, 'junit');
    expect(junit.run.code).toBe(1);
    expect(junit.run.out).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="bulkhead verify" tests="\d+" failures="1" errors="0"/,
    );
    expect(junit.run.out).toMatch(
      /<testcase classname="GET \/items" name="own:apiKey" time="0">\n\s+<failure type="leak"/,
    );
    expect(junit.run.out).toMatch(
      /<testcase classname="GET \/health" name="exercised" time="0">\n\s+<skipped message="public: no credential required"\/>/,
    );
    expect(junit.run.err).toMatch(/elapsed \d+\.\d s$/);
  });

  it('prints SARIF 2.1.0 for code scanning: one result per leak, a rule per attack kind', async () => {
    const { run } = await verifyService({ ...noFlaws, childIgnoresParent: true }, 'sarif');
    expect(run.code).toBe(1);
    const log = JSON.parse(run.out) as SarifLog;
    expect(log.version).toBe('2.1.0');
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(log.runs).toHaveLength(1);
    const [sarif] = log.runs;
    const rules = sarif!.tool.driver.rules!;
    expect(rules.map((r) => r.id)).toEqual(expect.arrayContaining(['foreign', 'mixed-owner', 'b-state']));
    for (const rule of rules) {
      expect(rule.shortDescription?.text, rule.id).toBeTruthy();
      expect(rule.fullDescription?.text, rule.id).toBeTruthy();
    }
    // One leak, one result: its rule, where it is in the document, and which parameter was B's.
    expect(sarif!.results).toHaveLength(1);
    const [result] = sarif!.results!;
    expect(result).toMatchObject({ ruleId: 'mixed-owner', level: 'error' });
    expect(rules[result!.ruleIndex!]!.id).toBe('mixed-owner');
    expect(result!.message.text).toMatch(
      /^GET \/items\/\{itemId\}\/notes\/\{noteId\}: mixed-owner \(B's noteId\)/,
    );
    const where = result!.locations![0]!;
    expect(where.logicalLocations![0]).toMatchObject({
      name: 'getNote',
      fullyQualifiedName: 'GET /items/{itemId}/notes/{noteId}',
    });
    const uri = where.physicalLocation!.artifactLocation!.uri!;
    const line = where.physicalLocation!.region!.startLine!;
    expect(readFileSync(uri, 'utf8').split('\n')[line - 1]).toContain('"/items/{itemId}/notes/{noteId}"');
    expect(result!.partialFingerprints!['bulkheadVerify/v1']).toMatch(/^[0-9a-f]{32}$/);
    expect(sarif!.invocations![0]).toMatchObject({ executionSuccessful: true });
    // No secret of B's in the log.
    expect(run.out).not.toContain(bSecret);

    // A token flaw: one result per operation it was found at, under the rule of its attack kind.
    const tokens = await verifyService(noFlaws, 'sarif', { ...noTokenFlaws, algNone: true });
    const tokenRun = (JSON.parse(tokens.run.out) as SarifLog).runs[0]!;
    expect(tokenRun.tool.driver.rules!.find((r) => r.id === 'token[alg-none]')).toMatchObject({
      name: 'TokenAlgNone',
    });
    expect(new Set(tokenRun.results!.map((r) => r.ruleId))).toEqual(new Set(['token[alg-none]']));
    expect(tokenRun.results!.length).toBeGreaterThanOrEqual(5);
    expect(tokenRun.results![0]!.message.text).toMatch(/: token\[alg-none\] with A's token: .*accepted/);
  });

  describe('with a running service', () => {
    let service: VulnerableService;
    const env = () => serviceEnv(service);
    beforeAll(async () => {
      service = await startVulnerableService(noFlaws);
    });
    afterAll(() => service.close());

    it('reads the document from a URL, or from the path the configuration names', async () => {
      const config = verifyConfig(service, bSecret);
      const byUrl = await cli(
        ['verify', '--spec', `${service.url}/openapi.json`, '--config', file(config)],
        env(),
      );
      expect(byUrl.code, byUrl.out + byUrl.err).toBe(0);
      const specFile = file(service.spec);
      const byConfig = await cli(
        ['verify', '--config', file({ ...config, spec: specFile.split('/').at(-1) }), '--format', 'json'],
        env(),
      );
      expect(byConfig.code, byConfig.err).toBe(0);
      expect((JSON.parse(byConfig.out) as VerifyReport).spec).toBe(specFile);
    });

    it('lets the configuration skip an operation with a reason, which then counts as not applicable', async () => {
      const config = {
        ...verifyConfig(service, bSecret),
        skip: { deleteItem: 'covered by the ops runbook' },
      };
      const run = await cli(
        ['verify', '--spec', file(service.spec), '--config', file(config), '--format', 'json'],
        env(),
      );
      expect(run.code).toBe(0);
      const report = JSON.parse(run.out) as VerifyReport;
      expect(report.operations.find((o) => o.operationId === 'deleteItem')).toMatchObject({
        coverage: 'not_applicable',
        reason: 'covered by the ops runbook',
        checks: 0,
      });
    });

    it('fails (exit 1) when an operation cannot be exercised, naming why', async () => {
      const config = verifyConfig(service, bSecret) as { domains: { b: { ids: Record<string, string> } } };
      delete config.domains.b.ids['projectId'];
      const run = await cli(
        ['verify', '--spec', file(service.spec), '--config', file(config), '--format', 'json'],
        env(),
      );
      expect(run.code).toBe(1);
      const report = JSON.parse(run.out) as VerifyReport;
      expect(report.summary.leaks).toBe(0);
      expect(report.operations.find((o) => o.operationId === 'getProject')).toMatchObject({
        coverage: 'skipped',
        reason: expect.stringContaining('no id of B for path parameter projectId') as string,
      });
      expect(run.err).toMatch(
        /^bulkhead verify: INCOMPLETE: 0 leaks; 13 of 14 tenant operations exercised \(1 skipped/,
      );
    });

    it('refuses bad input with exit 2 and one line, before creating anything', async () => {
      const config = file(verifyConfig(service, bSecret));
      const spec = file(service.spec);
      const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
        [['verify'], {}, /give --url \(or BULKHEAD_URL\)/],
        [['verify', '--url', service.url], {}, /set BULKHEAD_OPERATOR_TOKEN/],
        [['verify', '--config', config], env(), /give the OpenAPI document with --spec/],
        [['verify', '--spec', spec, '--config', config], {}, /environment variable ALPHA_KEY is not set/],
        [['verify', '--spec', spec, '--config', file({ baseUrl: service.url })], env(), /domains/],
        [['verify', '--spec', spec, '--config', file('{not json')], env(), /is not JSON/],
        [
          ['verify', '--spec', file({ swagger: '2.0', paths: {} }), '--config', config],
          env(),
          /Swagger 2.0; OpenAPI 3.x is required/,
        ],
        [
          ['verify', '--spec', join(dir.path, 'missing.json'), '--config', config],
          env(),
          /cannot read the OpenAPI document/,
        ],
        [
          ['verify', '--spec', spec, '--config', config, '--format', 'xml'],
          env(),
          /Allowed choices are table, json, junit, sarif/,
        ],
      ];
      for (const [args, e, message] of cases) {
        const run = await cli(args, e);
        expect({ args, code: run.code }).toEqual({ args, code: 2 });
        expect(run.err).toMatch(message);
      }
    });
  });
});

describe('values the prober sends', () => {
  it('derives an unknown id of the same shape, keeping the prefix', () => {
    expect(unknownId('dom_01m854xqz6rckrbf1etbvsvtsh')).toBe('dom_00000000000000000000000000');
    expect(unknownId('t-bravo')).toBe('t-00000');
    expect(unknownId('3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b')).toBe('00000000-0000-0000-0000-000000000000');
    expect(unknownId('42')).toBe('00');
    expect(unknownId('x_000')).toBe('x_111');
  });

  it('builds a minimal body: required fields, ids of the attacked domain, enums, formats, patterns', () => {
    const api = parseApiDescription({
      openapi: '3.1.0',
      paths: {},
      components: { schemas: { Kind: { enum: ['storage', 'redis'] } } },
    });
    let n = 0;
    const ctx = {
      resolve: api.resolve,
      ids: { instanceId: 'ins_123', domainId: 'dom_abc' },
      unique: () => `u-${n++}`,
    };
    const body = sampleValue(
      {
        type: 'object',
        required: ['instanceId', 'owner', 'kind', 'email', 'size', 'tags', 'name', 'choice'],
        properties: {
          instanceId: { type: 'string' },
          owner: { type: 'string', pattern: '^dom_[a-z]+$' },
          kind: { $ref: '#/components/schemas/Kind' },
          email: { type: 'string', format: 'email' },
          size: { type: 'integer', minimum: 4096 },
          tags: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[a-z0-9-]+$' } },
          name: { type: 'string', examples: ['web'], pattern: '^[a-z]+$' },
          choice: { anyOf: [{ type: 'null' }, { type: 'boolean' }] },
          optional: { type: 'string' },
        },
      },
      ctx,
    );
    expect(body).toEqual({
      instanceId: 'ins_123',
      owner: 'dom_abc',
      kind: 'storage',
      email: 'u-0@example.com',
      size: 4096,
      tags: ['u-1'],
      name: 'web',
      choice: false,
    });
  });
});
