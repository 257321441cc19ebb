// The record of isolation runs, on both stores: a system table that no domain's transaction can see or
// write, that the application role can add to and prune but never change, a failed run audited in the
// same transaction, and the operator-only API that lists them. Real PGlite and PostgreSQL.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../../src/audit/log.js';
import { newId } from '../../src/domain/ids.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import type { VerifyReport } from '../../src/verify/report.js';
import { IsolationMetrics } from '../../src/verify/metrics.js';
import { listRuns, recordRun, runRecord, type VerifyRun } from '../../src/verify/runs.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';

const rlsViolation = /row-level security|row level security/i;

/** A report as runVerify makes it, with `leaks` leaking checks and `skipped` operations not exercised. */
function report(leaks: number, skipped: number): VerifyReport {
  const checks = [
    {
      operation: 'GET /things',
      operationId: 'listThings',
      attack: 'own',
      credential: 'key',
      expected: 'nothing of B',
      got: '200',
      verdict: 'pass' as const,
    },
    ...Array.from({ length: leaks }, (_, i) => ({
      operation: `GET /things/{id}#${i}`,
      operationId: null,
      attack: 'foreign',
      credential: 'key',
      expected: '404, or 401/403, as for an unknown id',
      got: `200: accepted (unknown id: 404) ${'x'.repeat(600)}`,
      verdict: 'leak' as const,
    })),
  ];
  const operations = [
    {
      operation: 'GET /things',
      operationId: 'listThings',
      coverage: 'exercised' as const,
      reason: null,
      checks: 1,
      leaks: 0,
    },
    ...Array.from({ length: skipped }, (_, i) => ({
      operation: `DELETE /things/{id}#${i}`,
      operationId: null,
      coverage: 'skipped' as const,
      reason: 'no id of B for path parameter id',
      checks: 0,
      leaks: 0,
    })),
  ];
  return {
    target: 'http://127.0.0.1:9',
    spec: 'http://127.0.0.1:9/openapi.json',
    startedAt: new Date().toISOString(),
    elapsedMs: 1234,
    ok: leaks === 0 && skipped === 0,
    summary: {
      operations: operations.length,
      exercised: 1,
      notApplicable: 0,
      skipped,
      checks: checks.length,
      leaks,
      inconclusive: 0,
    },
    operations,
    checks,
    cleanup: [],
  };
}

function run(outcome: { report: VerifyReport } | { error: string }, at = Date.now()): VerifyRun {
  return runRecord({
    id: newId('verifyRun', at),
    startedAt: new Date(at),
    finishedAt: new Date(at + 1234),
    target: 'http://127.0.0.1:9',
    outcome,
  });
}

describe('the run record', () => {
  it('keeps the counts and a bounded digest of what went wrong', () => {
    const r = run({ report: report(60, 2) });
    expect(r).toMatchObject({
      verdict: 'leak',
      operations: 3,
      exercised: 1,
      unexercised: 2,
      leaks: 60,
      checks: 61,
    });
    expect(r.report!.leaks).toHaveLength(50);
    expect(r.report!.omitted).toEqual({ leaks: 10, unexercised: 0, cleanup: 0 });
    expect(r.report!.leaks[0]!.got.length).toBeLessThanOrEqual(500);
    expect(run({ report: report(0, 1) }).verdict).toBe('incomplete');
    expect(run({ report: report(0, 0) }).verdict).toBe('clean');
    expect(run({ error: 'HTTP 500' })).toMatchObject({ verdict: 'error', error: 'HTTP 500', report: null });
  });
});

describe.each(backends)('isolation runs in the store on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let domainId: string;

  beforeAll(async () => {
    services = await openTestServices(backend);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    domainId = (
      await services.domains.create({ actor: 'test', requestId: null }, { slug: 'runs-a', name: 'A' })
    ).id;
  }, 60_000);

  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('records a clean run without an audit event, and a failed one with a system event in the same transaction', async () => {
    const clean = run({ report: report(0, 0) });
    const leak = run({ report: report(2, 1) });
    const error = run({ error: 'cannot fetch the OpenAPI document: HTTP 502' });
    for (const r of [clean, leak, error])
      await services.store.system('verify', (tx) => recordRun(tx, r, 'system'));
    const listed = await services.store.system('verify', (tx) => listRuns(tx, { limit: 10 }));
    expect(listed.map((r) => r.id)).toEqual([error.id, leak.id, clean.id].sort().reverse());
    expect(listed.find((r) => r.id === leak.id)).toEqual(leak);

    const events = await services.store.system('operator', (tx) =>
      listAudit(tx, { action: 'verify.failed' }),
    );
    expect(events.map((e) => [e.target, e.domainId, e.actor, e.outcome])).toEqual([
      [leak.id, null, 'system', 'failure'],
      [error.id, null, 'system', 'failure'],
    ]);
    expect(events[0]!.detail).toMatchObject({ verdict: 'leak', leaks: 2, unexercised: 1, checks: 3 });
    expect(events[1]!.detail).toMatchObject({
      verdict: 'error',
      error: 'cannot fetch the OpenAPI document: HTTP 502',
    });
    expect((await services.store.system('audit', verifyAudit)).ok).toBe(true);

    // A run that cannot be stored takes its audit event with it.
    await expect(
      services.store.system('verify', (tx) => recordRun(tx, { ...leak, target: '' }, 'system')),
    ).rejects.toThrow();
    const after = await services.store.system('operator', (tx) => listAudit(tx, { action: 'verify.failed' }));
    expect(after).toHaveLength(2);
  });

  it('keeps only the newest runs', async () => {
    const base = Date.now() + 60_000;
    const runs = Array.from({ length: 5 }, (_, i) => run({ report: report(0, 0) }, base + i * 1000));
    for (const r of runs) await services.store.system('verify', (tx) => recordRun(tx, r, 'system', 3));
    const listed = await services.store.system('verify', (tx) => listRuns(tx, { limit: 100 }));
    expect(listed.map((r) => r.id)).toEqual(
      runs
        .slice(2)
        .map((r) => r.id)
        .reverse(),
    );
  });

  it('is out of reach of every domain, and never changed by the application role', async () => {
    const stored = await services.store.system('verify', (tx) => listRuns(tx, { limit: 100 }));
    expect(stored.length).toBeGreaterThan(0);
    await services.store.withDomain(domainId, async (tx) => {
      expect(await tx.selectFrom('verify_runs').selectAll().execute()).toEqual([]);
      const removed = await tx.deleteFrom('verify_runs').executeTakeFirst();
      expect(Number(removed.numDeletedRows)).toBe(0);
    });
    const r = run({ report: report(0, 0) });
    await expect(
      services.store.withDomain(domainId, (tx) =>
        tx
          .insertInto('verify_runs')
          .values({
            id: r.id,
            started_at: new Date(r.startedAt),
            finished_at: new Date(r.finishedAt),
            target: r.target,
            verdict: 'clean',
            operations: 1,
            exercised: 1,
            unexercised: 0,
            checks: 1,
            leaks: 0,
            inconclusive: 0,
            error: null,
            report: null,
          })
          .execute(),
      ),
    ).rejects.toThrow(rlsViolation);
    await expect(
      services.store.system('verify', (tx) => sql`UPDATE verify_runs SET verdict = 'clean'`.execute(tx)),
    ).rejects.toThrow(/permission denied/);
    expect(await services.store.system('verify', (tx) => listRuns(tx, { limit: 100 }))).toEqual(stored);
  });

  it('gives a restarted process the last recorded run on its gauges', async () => {
    const [newest] = await services.store.system('verify', (tx) => listRuns(tx, { limit: 1 }));
    expect(newest).toBeDefined();
    const metrics = new IsolationMetrics();
    expect(await metrics.registry.metrics()).toMatch(/^bulkhead_isolation_last_run_timestamp_seconds 0$/m);
    metrics.restoreLast(newest!);
    const body = await metrics.registry.metrics();
    expect(body).toContain(
      `bulkhead_isolation_last_run_timestamp_seconds ${Date.parse(newest!.finishedAt) / 1000}`,
    );
    expect(body).toContain(`bulkhead_isolation_last_run_leaks ${newest!.leaks}`);
    expect(body).toContain(`bulkhead_isolation_last_run_success ${newest!.verdict === 'clean' ? 1 : 0}`);
    // The counters stay this process's own.
    expect(body).toMatch(/^bulkhead_isolation_runs_total\{verdict="leak"\} 0$/m);
  });

  it('lists runs to the operator only, newest first, a page at a time', async () => {
    const call = callerOf(app);
    const all = (await call('GET', '/v1/verify/runs?limit=100')).json<{ items: VerifyRun[] }>().items;
    expect(all.length).toBeGreaterThanOrEqual(3);
    const page = await call('GET', '/v1/verify/runs?limit=2');
    expect(page.statusCode).toBe(200);
    const first = page.json<{ items: VerifyRun[] }>().items;
    expect(first.map((r) => r.id)).toEqual(all.slice(0, 2).map((r) => r.id));
    const next = (await call('GET', `/v1/verify/runs?limit=2&before=${first[1]!.id}`)).json<{
      items: VerifyRun[];
    }>();
    expect(next.items.map((r) => r.id)).toEqual(all.slice(2, 4).map((r) => r.id));

    for (const [url, status] of [
      ['/v1/verify/runs?limit=0', 400],
      ['/v1/verify/runs?limit=101', 400],
      ['/v1/verify/runs?before=dom_00000000000000000000000000', 400],
      ['/v1/verify/runs?domainId=x', 400],
    ] as const)
      expect({ url, status: (await call('GET', url)).statusCode }).toEqual({ url, status });

    const key = await services.keys.issue({ actor: 'test', requestId: null }, domainId, {});
    const tenant = await call('GET', '/v1/verify/runs', { token: key.key });
    expect(tenant.statusCode).toBe(403);
    expect(tenant.json<{ code: string }>().code).toBe('operator_required');
    expect(
      (await call('GET', '/v1/verify/runs', { token: 'not-the-operator-token-0123456789abcdef' })).statusCode,
    ).toBe(401);
  });

  it('serves /metrics to the operator, and neither to a tenant nor without a credential', async () => {
    const call = callerOf(app);
    const ok = await call('GET', '/metrics', { token: operatorToken });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.body).toMatch(/^bulkhead_isolation_runs_total\{verdict="clean"\} 0$/m);
    expect(ok.body).toMatch(/^bulkhead_isolation_last_run_timestamp_seconds 0$/m);
    const key = await services.keys.issue({ actor: 'test', requestId: null }, domainId, {});
    const tenant = await call('GET', '/metrics', { token: key.key });
    expect(tenant.statusCode).toBe(403);
    expect(tenant.json<{ code: string }>().code).toBe('operator_required');
    expect(tenant.body).not.toContain('bulkhead_isolation');
    expect((await call('GET', '/metrics', { token: null })).statusCode).toBe(401);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/metrics?format=json',
          headers: { authorization: `Bearer ${operatorToken}` },
        })
      ).statusCode,
    ).toBe(400);
  });
});
