// `bulkhead verify` as an operator runs it: a real `bulkhead serve` on the embedded store, and the built
// CLI attacking it from outside through its own OpenAPI document. Every operation a tenant can reach
// must be exercised with every tenant credential, nothing may leak, and the probe domains are gone after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyReport } from '../src/verify/report.js';
import { assertBuilt, killAll, runCli, startServer, tempDir, type Server } from './helpers/processes.js';

const operatorToken = 'verify-operator-token-0123456789abcdef';
const publicOperations = [
  'GET /healthz',
  'GET /readyz',
  'GET /v1/domains/{domainId}/jwks.json',
  'GET /.well-known/jwks.json',
  'GET /v1/revocations',
  'POST /v1/auth/token',
  'POST /v1/auth/login',
  'POST /v1/auth/revoke',
];

describe('bulkhead verify against a running Bulkhead', () => {
  const dir = tempDir('bulkhead-verify-e2e-');
  let server: Server;

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(['--data-dir', dir.path, 'serve', '--port', '0', '--log-level', 'warn'], {
      env: { BULKHEAD_OPERATOR_TOKEN: operatorToken },
      timeoutMs: 90_000,
    });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    dir.remove();
  });

  it('exercises every tenant operation with every credential, finds no leak, and cleans up', async () => {
    const run = await runCli(['verify', '--url', server.url, '--format', 'json'], {
      env: { BULKHEAD_OPERATOR_TOKEN: operatorToken },
      timeoutMs: 170_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as VerifyReport;
    const summary = /elapsed (\d+\.\d) s$/.exec(run.stderr.trim());
    expect(summary, run.stderr).not.toBeNull();
    console.log(`bulkhead verify against Bulkhead: ${summary![1]} s, ${report.summary.checks} checks`);

    expect(report.ok).toBe(true);
    expect(report.spec).toBe(`${server.url}/openapi.json`);
    expect(report.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expect(report.operations.filter((o) => o.coverage === 'not_applicable').map((o) => o.operation)).toEqual(
      publicOperations,
    );
    const tenantOperations = report.operations.filter((o) => o.coverage !== 'not_applicable');
    expect(tenantOperations.length).toBeGreaterThanOrEqual(40);
    expect(tenantOperations.filter((o) => o.coverage !== 'exercised')).toEqual([]);

    // Every operation that names something was attacked with A's key, token and session at B's ids.
    for (const o of tenantOperations.filter((o) => o.operation.includes('{'))) {
      const foreign = report.checks.filter((c) => c.operation === o.operation && c.attack === 'foreign');
      expect(foreign.map((c) => c.credential).sort(), o.operation).toEqual(['key', 'session', 'token']);
    }
    // Attaching A's volume to B's instance answers like an unknown instance.
    expect(
      report.checks.filter(
        (c) =>
          c.operation === 'POST /v1/domains/{domainId}/volumes/{volumeId}/attach' &&
          c.attack === 'foreign-body',
      ),
    ).toHaveLength(3);
    // A tenant's own listing and smuggled domain ids were tried where a tenant is accepted.
    expect(
      report.checks.find((c) => c.operation === 'GET /v1/domains/{domainId}/instances' && c.attack === 'own'),
    ).toMatchObject({ verdict: 'pass', got: '200' });
    expect(
      report.checks.find(
        (c) => c.operation === 'GET /v1/domains/{domainId}/instances' && c.attack === 'smuggle-query',
      ),
    ).toMatchObject({ verdict: 'pass', got: 'domainId, tenantId, tenant_id, ownerId, orgId: 400 (refused)' });
    expect(report.cleanup).toEqual([]);

    // The probe domains are deleted again.
    const res = await fetch(`${server.url}/v1/domains?includeDeleted=true`, {
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    const domains = ((await res.json()) as { items: { slug: string; status: string }[] }).items;
    const probes = domains.filter((d) => d.slug.startsWith('verify-'));
    expect(probes.map((d) => d.status)).toEqual(['deleted', 'deleted']);
  }, 180_000);
});
