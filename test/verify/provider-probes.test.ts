// The backends' own isolation probes, as `bulkhead verify` runs them: the operator-only endpoint that
// runs a provider's probe between two domains' resources (the credentials stay on the server), and the
// Bulkhead target that creates the resources and turns each probe into a row of the report. The real
// embedded PostgreSQL provider and local storage; a root opened to other users is a real broken boundary.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import type { ResourceKind } from '../../src/domain/kinds.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { createPostgresProvider } from '../../src/providers/postgres/index.js';
import type { DataKeySource, Provider } from '../../src/providers/provider.js';
import { createStorageProvider } from '../../src/providers/storage/index.js';
import type { Services } from '../../src/runtime.js';
import { bulkheadTarget } from '../../src/verify/bulkhead-target.js';
import { summarise } from '../../src/verify/report.js';
import { providerResults } from '../../src/verify/verify.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { callerOf, createDomainWithKey } from '../helpers/api.js';
import { tempDir } from '../helpers/processes.js';

const operatorToken = 'probe-operator-token-0123456789abcdef';
const dir = tempDir('bulkhead-provider-probes-');
const postgresRoot = join(dir.path, 'postgres');

describe('provider isolation probes through the API', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let url: string;
  let n = 0;

  const call = callerOf(() => app, { token: operatorToken });
  const domainWithKey = () => createDomainWithKey(call, { slug: `probe-${++n}-x`, name: 'p' });

  async function resource(d: { id: string; key: string }, kind: ResourceKind): Promise<string> {
    const res = await call('POST', `/v1/domains/${d.id}/resources`, {
      token: d.key,
      body: { kind, name: `r-${++n}` },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  beforeAll(async () => {
    // The storage provider needs the keyring, which the services create: bound once they exist.
    const bound: { keyring?: Services['keyring'] } = {};
    const dataKeys: DataKeySource = { dataKey: (domainId) => bound.keyring!.dataKey(domainId) };
    const providers = new Map<ResourceKind, Provider>([
      ['postgres', await createPostgresProvider({ kind: 'embedded', root: postgresRoot })],
      [
        'storage',
        await createStorageProvider({ root: join(dir.path, 'storage'), dataKeys, maxObjectBytes: 1 << 20 }),
      ],
    ]);
    services = await openTestServices(backends[0]!, { providers });
    bound.keyring = services.keyring;
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 60_000);

  afterAll(async () => {
    await app.close();
    await services.drop();
    dir.remove();
  });

  it("runs a provider's probe between two domains' resources; only the attempts come back", async () => {
    const [a, b] = [await domainWithKey(), await domainWithKey()];
    for (const kind of ['storage', 'postgres'] as const) {
      const sides = { a: { domainId: a.id, resourceId: await resource(a, kind) } };
      const bSide = { domainId: b.id, resourceId: await resource(b, kind) };
      const res = await call('POST', '/v1/verify/provider-probes', {
        token: operatorToken,
        body: { ...sides, b: bSide },
      });
      expect(res.statusCode, res.body).toBe(200);
      const report = res.json<{ kind: string; refused: boolean; attempts: { refused: boolean }[] }>();
      expect(report.kind).toBe(kind);
      expect(report.refused).toBe(true);
      expect(report.attempts.length).toBeGreaterThan(2);
      expect(report.attempts.every((x) => x.refused)).toBe(true);
      // Nothing of the credentials is in the answer (a password, a data directory, a URL).
      expect(res.body).not.toMatch(/password|dataDir|postgres:\/\//);
    }
    // Each domain's log records that its credentials were read, by the operator.
    for (const d of [a, b]) {
      const reads = await services.store.system('operator', (tx) =>
        listAudit(tx, { domainId: d.id, action: 'resource.credentials' }),
      );
      expect(reads.map((e) => e.actor)).toEqual(['operator', 'operator']);
    }
  });

  it('refuses every other input with a precise 4xx, and tenants outright', async () => {
    const [a, b] = [await domainWithKey(), await domainWithKey()];
    const aStorage = await resource(a, 'storage');
    const aStorage2 = await resource(a, 'storage');
    const bStorage = await resource(b, 'storage');
    const bPostgres = await resource(b, 'postgres');
    const side = (domainId: string, resourceId: string) => ({ domainId, resourceId });
    const unknown = 'res_00000000000000000000000000';
    const gone = await resource(b, 'storage');
    expect((await call('DELETE', `/v1/domains/${b.id}/resources/${gone}`, { token: b.key })).statusCode).toBe(
      200,
    );

    const cases: [unknown, number, string][] = [
      [{ a: side(a.id, aStorage), b: side(a.id, aStorage2) }, 400, 'invalid_request'],
      [{ a: side(a.id, aStorage), b: side(b.id, bPostgres) }, 400, 'invalid_request'],
      [{ a: side(a.id, aStorage), b: side(b.id, unknown) }, 404, 'not_found'],
      // A's resource named under B's domain is not found: each is looked up in the domain named.
      [{ a: side(a.id, aStorage), b: side(b.id, aStorage) }, 404, 'not_found'],
      [{ a: side(a.id, aStorage), b: side(b.id, gone) }, 409, 'resource_not_ready'],
      [{ a: side(a.id, aStorage) }, 400, 'missing_field'],
      [{ a: side(a.id, aStorage), b: side(b.id, bStorage), c: 1 }, 400, 'unknown_field'],
      [{ a: side(a.id, aStorage), b: side('dom_x', bStorage) }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call('POST', '/v1/verify/provider-probes', { token: operatorToken, body });
      expect({ body, status: res.statusCode }).toEqual({ body, status });
      expect(res.json<{ code: string }>().code).toBe(code);
    }

    // A tenant's key (even of the attacking domain) is refused before anything is read.
    const before = await services.store.system('operator', (tx) =>
      listAudit(tx, { action: 'resource.credentials', limit: 1000 }),
    );
    const tenant = await call('POST', '/v1/verify/provider-probes', {
      token: a.key,
      body: { a: side(a.id, aStorage), b: side(b.id, bStorage) },
    });
    expect(tenant.statusCode).toBe(403);
    expect(tenant.json<{ code: string }>().code).toBe('operator_required');
    expect((await call('POST', '/v1/verify/provider-probes', { token: null, body: {} })).statusCode).toBe(
      401,
    );
    const after = await services.store.system('operator', (tx) =>
      listAudit(tx, { action: 'resource.credentials', limit: 1000 }),
    );
    expect(after).toHaveLength(before.length);
  });

  it('the Bulkhead target probes every configured kind and reports a probe not refused as a leak', async () => {
    const target = bulkheadTarget({ url, operatorToken });
    await target.setup();
    try {
      // Clean first: postgres and storage refused, the kinds without a provider not applicable.
      const clean = await target.probeProviders!();
      expect(Object.fromEntries(clean.map((p) => [p.kind, p.outcome]))).toEqual({
        postgres: 'refused',
        redis: 'not_configured',
        rabbitmq: 'not_configured',
        storage: 'refused',
        kubernetes: 'not_configured',
      });
      const results = providerResults(clean);
      expect(results.checks.map((c) => [c.operation, c.attack, c.verdict])).toEqual([
        ['provider:postgres', 'probeIsolation', 'pass'],
        ['provider:storage', 'probeIsolation', 'pass'],
      ]);
      expect(summarise(results.operations, results.checks)).toMatchObject({
        exercised: 2,
        notApplicable: 3,
        leaks: 0,
      });

      // The embedded databases' root opened to other users: the backend no longer keeps B's directory
      // from them, and the probe says so.
      await chmod(postgresRoot, 0o755);
      let broken;
      try {
        broken = await target.probeProviders!();
      } finally {
        await chmod(postgresRoot, 0o700);
      }
      const postgres = broken.find((p) => p.kind === 'postgres')!;
      expect(postgres.outcome).toBe('not_refused');
      expect(postgres.notRefused).toEqual([
        expect.stringMatching(/^open B's directory as another OS user: .*open to group or others/),
      ]);
      const leaked = providerResults(broken);
      const check = leaked.checks.find((c) => c.operation === 'provider:postgres')!;
      expect(check).toMatchObject({ verdict: 'leak', attack: 'probeIsolation' });
      expect(check.got).toMatch(/^not refused: open B's directory as another OS user/);
      expect(summarise(leaked.operations, leaked.checks)).toMatchObject({ leaks: 1, skipped: 0 });
    } finally {
      expect(await target.teardown()).toEqual([]);
    }
  }, 120_000);
});
