// Scheduled verification as an operator runs it: the built `bulkhead verify --every` as a process
// against the service with planted flaws (runs recorded in a file and in the store, a failed run audited,
// Prometheus metrics served, SIGINT/SIGTERM stopping it cleanly even mid-run), and `bulkhead serve`
// verifying itself on a schedule. Real processes, real HTTP, the real store; nothing is mocked.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { main } from '../../src/cli/main.js';
import { openStore } from '../../src/store/store.js';
import { parseDuration } from '../../src/util/duration.js';
import type { VerifyRun } from '../../src/verify/runs.js';
import {
  allFlaws,
  noFlaws,
  startVulnerableService,
  verifyConfig,
  type VulnerableService,
} from '../fixtures/vulnerable-service.js';
import {
  assertBuilt,
  killAll,
  runCli,
  startProcess,
  startServer,
  tempDir,
  type Process,
} from '../helpers/processes.js';

const bSecret = 'BRAVO-SECRET-5c2e81';
const operatorToken = 'schedule-operator-token-0123456789abcdef';
const metricsToken = 'schedule-metrics-token-0123456789abcdef';
const dir = tempDir('bulkhead-verify-schedule-');
let files = 0;

function file(content: unknown): string {
  const path = join(dir.path, `f${files++}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

/** The args and environment that point `bulkhead verify` at the service. */
function target(service: VulnerableService): { args: string[]; env: Record<string, string> } {
  return {
    args: ['--spec', file(service.spec), '--config', file(verifyConfig(service, bSecret))],
    env: {
      ALPHA_KEY: service.tenants.a.key,
      BRAVO_KEY: service.tenants.b.key,
      ALPHA_TOKEN: service.tenants.a.token,
      ISSUER_KEY: service.issuerKey,
    },
  };
}

/** One sample of a Prometheus text body, or undefined when the series is absent. */
function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const runLines = (p: Process) =>
  p
    .output()
    .stdout.split('\n')
    .filter((l) => /^\S+ vrn_[0-9a-z]{26} bulkhead verify: /.test(l));

async function metricsUrl(p: Process): Promise<string> {
  const line = await p.waitFor(/metrics at http:/);
  return /metrics at (\S+)/.exec(line)![1]!;
}

async function stop(p: Process, signal: NodeJS.Signals): Promise<number | null> {
  p.child.kill(signal);
  const { code } = await p.exited;
  return code;
}

async function inProcess(args: string[], env: NodeJS.ProcessEnv = {}) {
  const err: string[] = [];
  const code = await main(
    ['node', 'bulkhead', ...args],
    { out: () => {}, err: (l) => err.push(l), input: () => Promise.resolve('') },
    env,
  );
  return { code, err: err.join('\n') };
}

beforeAll(() => assertBuilt());
afterAll(async () => {
  await killAll();
  dir.remove();
});

describe('durations', () => {
  it('reads 30s, 15m, 1h, 1h30m and 1d, and refuses anything else with the reason', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    for (const bad of ['', '1', 'h', '1x', '1.5h', '-1h', ' 1 h', '10 s'])
      expect(() => parseDuration(bad), bad).toThrow(/is not a duration/);
    for (const bad of ['0s', '999ms', '8d', '169h']) expect(() => parseDuration(bad), bad).toThrow();
    expect(() => parseDuration('8d')).toThrow(/out of range: from 1s to 7d/);
  });
});

describe('bulkhead verify --every against a service', () => {
  let service: VulnerableService;
  beforeAll(async () => {
    service = await startVulnerableService(noFlaws);
  });
  afterAll(() => service.close());

  it('refuses a bad schedule or a place it cannot record to, with exit 2 and one line, before any run', async () => {
    const t = target(service);
    const locked = join(dir.path, 'locked');
    const holder = await openStore({ kind: 'pglite', dataDir: locked });
    try {
      const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
        [['verify', ...t.args, '--every', '5x'], t.env, /argument '5x' is invalid\. "5x" is not a duration/],
        [['verify', ...t.args, '--every', '0s'], t.env, /"0s" is out of range: from 1s to 7d/],
        [['verify', ...t.args, '--every', '8d'], t.env, /"8d" is out of range/],
        [['verify', ...t.args, '--metrics-port', '9464'], t.env, /--metrics-port needs --every/],
        [['verify', ...t.args, '--every', '1s', '--metrics-port', '70000'], t.env, /--metrics-port/],
        [
          ['verify', ...t.args, '--every', '1s', '--format', 'junit'],
          t.env,
          /--format junit makes one document per run/,
        ],
        [
          ['verify', ...t.args, '--every', '1s', '--results', join(dir.path, 'missing', 'runs.jsonl')],
          t.env,
          /cannot write the results file .*missing\/runs\.jsonl/,
        ],
        [
          ['--data-dir', locked, 'verify', ...t.args, '--every', '1s', '--store'],
          t.env,
          /--store: the data directory .* is in use by process \d+/,
        ],
        [['--data-dir', locked, 'serve', '--verify-every', '1h'], {}, /needs BULKHEAD_OPERATOR_TOKEN/],
        [
          ['--data-dir', locked, 'serve'],
          { BULKHEAD_VERIFY_EVERY: '10q', BULKHEAD_OPERATOR_TOKEN: operatorToken },
          /BULKHEAD_VERIFY_EVERY must be a duration from 1s to 7d/,
        ],
        [['verify', 'history', join(dir.path, 'none.jsonl')], {}, /cannot read the results file/],
      ];
      const before = service.requests();
      for (const [args, env, message] of cases) {
        const run = await inProcess(args, env);
        expect({ args, code: run.code }).toEqual({ args, code: 2 });
        expect(run.err).toMatch(message);
      }
      // Nothing was attacked: the document was at most read from a file, never fetched from the service.
      expect(service.requests()).toBe(before);
    } finally {
      await holder.close();
    }
  });

  it('runs every interval until SIGTERM, records each run, and serves the counters on /metrics', async () => {
    const t = target(service);
    const dataDir = join(dir.path, 'clean');
    const results = join(dir.path, 'clean.jsonl');
    const started = Date.now() / 1000;
    const p = startProcess(
      [
        '--data-dir',
        dataDir,
        'verify',
        ...t.args,
        '--every',
        '1s',
        '--results',
        results,
        '--store',
        '--metrics-port',
        '0',
      ],
      { env: t.env },
    );
    const url = await metricsUrl(p);
    await until('two runs', () => (runLines(p).length >= 2 ? true : undefined), 60_000);

    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="clean"}')).toBeGreaterThanOrEqual(2);
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="leak"}')).toBe(0);
    expect(sample(body, 'bulkhead_isolation_checks_total{verdict="pass"}')).toBeGreaterThan(40);
    expect(sample(body, 'bulkhead_isolation_checks_total{verdict="leak"}')).toBe(0);
    expect(sample(body, 'bulkhead_isolation_last_run_success')).toBe(1);
    expect(sample(body, 'bulkhead_isolation_last_run_leaks')).toBe(0);
    expect(sample(body, 'bulkhead_isolation_last_run_unexercised')).toBe(0);
    expect(sample(body, 'bulkhead_isolation_last_run_timestamp_seconds')).toBeGreaterThan(started);
    // Counts only: no tenant, id, key or secret of either domain.
    for (const value of [
      service.tenants.a.id,
      service.tenants.b.id,
      service.tenants.a.key,
      service.tenants.b.key,
      service.tenants.b.projectId,
      bSecret,
      'itm_',
    ])
      expect(body).not.toContain(value);
    expect((await fetch(url.replace(/\/metrics$/, '/'))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);

    expect(await stop(p, 'SIGTERM')).toBe(0);
    expect(p.output().stderr).toMatch(/SIGTERM: stopping/);
    expect(p.output().stderr).toMatch(/bulkhead verify: stopped$/m);

    // Every finished run is in the file and in the store, clean, started at least the interval apart.
    const lines = readFileSync(results, 'utf8').trim().split('\n');
    const runs = lines.map((l) => JSON.parse(l) as VerifyRun);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.map((r) => r.verdict)).toEqual(runs.map(() => 'clean'));
    expect(runs.every((r) => r.exercised === r.operations && r.operations === 14)).toBe(true);
    for (let i = 1; i < runs.length; i++)
      expect(Date.parse(runs[i]!.startedAt) - Date.parse(runs[i - 1]!.startedAt)).toBeGreaterThanOrEqual(
        1000,
      );
    const history = await runCli(['--data-dir', dataDir, 'verify', 'history', '--json', '--limit', '100']);
    expect(history.code, history.stderr).toBe(0);
    expect((JSON.parse(history.stdout) as VerifyRun[]).map((r) => r.id)).toEqual(
      runs.map((r) => r.id).reverse(),
    );
    const fromFile = await runCli(['verify', 'history', results]);
    expect(fromFile.stdout.split('\n')[0]).toMatch(/^ID\s+STARTEDAT\s+TARGET\s+VERDICT\s+LEAKS/);
    expect(fromFile.stdout).toContain(runs[0]!.id);
    // A clean run is not an audit event.
    const audit = await runCli([
      '--data-dir',
      dataDir,
      'audit',
      'list',
      '--action',
      'verify.failed',
      '--json',
    ]);
    expect(JSON.parse(audit.stdout)).toEqual([]);
    // Each run removed what it created in B.
    expect(service.items('b')).toEqual([]);
  }, 120_000);
});

describe('bulkhead verify --every against a service with planted flaws', () => {
  let service: VulnerableService;
  beforeAll(async () => {
    service = await startVulnerableService(allFlaws);
  });
  afterAll(() => service.close());

  it('records a failed run, audits it, and counts its leaks; the metrics token guards /metrics', async () => {
    const t = target(service);
    const dataDir = join(dir.path, 'flawed');
    const p = startProcess(
      [
        '--data-dir',
        dataDir,
        'verify',
        ...t.args,
        '--every',
        '1h',
        '--store',
        '--metrics-port',
        '0',
        '--format',
        'json',
      ],
      { env: { ...t.env, BULKHEAD_METRICS_TOKEN: metricsToken } },
    );
    const url = await metricsUrl(p);
    const line = await p.waitFor(/^\{"id":"vrn_/, 60_000);
    const run = JSON.parse(line) as VerifyRun;
    expect(run.verdict).toBe('leak');
    expect(run.leaks).toBeGreaterThanOrEqual(6);
    expect(run.report!.leaks.map((l) => l.operation)).toContain('POST /items/{itemId}/links');

    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${operatorToken}` } })).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="leak"}')).toBe(1);
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="clean"}')).toBe(0);
    expect(sample(body, 'bulkhead_isolation_checks_total{verdict="leak"}')).toBe(run.leaks);
    expect(sample(body, 'bulkhead_isolation_last_run_leaks')).toBe(run.leaks);
    expect(sample(body, 'bulkhead_isolation_last_run_success')).toBe(0);
    expect(body).not.toContain(bSecret);

    expect(await stop(p, 'SIGINT')).toBe(0);
    expect(p.output().stderr).toMatch(/SIGINT: stopping/);

    const audit = await runCli([
      '--data-dir',
      dataDir,
      'audit',
      'list',
      '--action',
      'verify.failed',
      '--json',
    ]);
    const events = JSON.parse(audit.stdout) as AuditEvent[];
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      domainId: null,
      actor: `cli:${userInfo().username}`,
      action: 'verify.failed',
      target: run.id,
      outcome: 'failure',
      detail: { verdict: 'leak', leaks: run.leaks, unexercised: 0, target: service.url },
    });
    expect((await runCli(['--data-dir', dataDir, 'audit', 'verify'])).code).toBe(0);
    const history = await runCli(['--data-dir', dataDir, 'verify', 'history', '--json']);
    expect(JSON.parse(history.stdout)).toEqual([run]);
  }, 120_000);

  it('records a single run too (for cron), in the store and the file, with exit 1', async () => {
    const t = target(service);
    const dataDir = join(dir.path, 'single');
    const results = join(dir.path, 'single.jsonl');
    const single = await runCli(
      ['--data-dir', dataDir, 'verify', ...t.args, '--store', '--results', results],
      {
        env: t.env,
        timeoutMs: 60_000,
      },
    );
    expect(single.code, single.stderr).toBe(1);
    const [recorded] = readFileSync(results, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as VerifyRun);
    expect(recorded).toMatchObject({ verdict: 'leak', target: service.url });
    const stored = JSON.parse(
      (await runCli(['--data-dir', dataDir, 'verify', 'history', '--json'])).stdout,
    ) as VerifyRun[];
    expect(stored).toEqual([recorded]);
    const audit = await runCli([
      '--data-dir',
      dataDir,
      'audit',
      'list',
      '--action',
      'verify.failed',
      '--json',
    ]);
    expect((JSON.parse(audit.stdout) as AuditEvent[]).map((e) => e.target)).toEqual([recorded!.id]);
  }, 90_000);
});

describe('a target that stops answering', () => {
  it('is recorded as an error run, counted, and the schedule goes on', async () => {
    const service = await startVulnerableService(noFlaws);
    const t = target(service);
    const results = join(dir.path, 'gone.jsonl');
    const p = startProcess(
      ['verify', ...t.args, '--every', '1s', '--results', results, '--metrics-port', '0'],
      {
        env: t.env,
      },
    );
    const url = await metricsUrl(p);
    await until('a clean run', () => (runLines(p).length >= 1 ? true : undefined), 60_000);
    await service.close();
    const closedAt = Date.now();
    await until(
      'two failed runs',
      () =>
        p
          .output()
          .stdout.split('\n')
          .filter((l) => / bulkhead verify: ERROR: /.test(l)).length >= 2
          ? true
          : undefined,
      60_000,
    );
    const body = await (await fetch(url)).text();
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="error"}')).toBeGreaterThanOrEqual(2);
    expect(sample(body, 'bulkhead_isolation_last_run_success')).toBe(0);
    expect(await stop(p, 'SIGTERM')).toBe(0);
    const runs = readFileSync(results, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as VerifyRun);
    expect(runs[0]!.verdict).toBe('clean');
    const failed = runs.filter((r) => r.verdict === 'error');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    // A run under way when the target went fails at whatever step it had reached; one that starts
    // after it fails at its first.
    expect(failed.every((r) => r.report === null && r.checks === 0 && /: HTTP 0/.test(r.error ?? ''))).toBe(
      true,
    );
    expect(failed.find((r) => Date.parse(r.startedAt) >= closedAt)).toMatchObject({
      report: null,
      checks: 0,
      error: expect.stringMatching(/^create POST \/items for A: HTTP 0/) as string,
    });
  }, 120_000);
});

describe('stopping a run in progress', () => {
  let service: VulnerableService;
  beforeAll(async () => {
    // Every answer held back, so that a run lasts long enough to be stopped in the middle.
    service = await startVulnerableService(noFlaws, { delayMs: 100 });
  });
  afterAll(() => service.close());

  it('SIGTERM aborts the run, removes what it created, records nothing, and exits 0', async () => {
    const t = target(service);
    const results = join(dir.path, 'stopped.jsonl');
    const p = startProcess(['verify', ...t.args, '--every', '1h', '--results', results], { env: t.env });
    await until('the run to be under way', () => (service.requests() > 20 ? true : undefined), 30_000);
    expect(service.items('b')).toHaveLength(1);
    const stopped = Date.now();
    expect(await stop(p, 'SIGTERM')).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(10_000);
    expect(p.output().stderr).toMatch(/bulkhead verify: stopped$/m);
    expect(p.output().stderr).not.toMatch(/not cleaned up/);
    expect(runLines(p)).toEqual([]);
    expect(existsSync(results) ? readFileSync(results, 'utf8') : '').toBe('');
    expect(service.items('b')).toEqual([]);
  }, 60_000);
});

describe('bulkhead serve --verify-every', () => {
  const serveDir = tempDir('bulkhead-serve-verify-');
  afterAll(() => serveDir.remove());

  it('verifies itself on a schedule: stored runs, history, and metrics for the metrics token', async () => {
    const server = await startServer(
      ['--data-dir', serveDir.path, 'serve', '--port', '0', '--log-level', 'warn', '--verify-every', '1h'],
      {
        env: { BULKHEAD_OPERATOR_TOKEN: operatorToken, BULKHEAD_METRICS_TOKEN: metricsToken },
        timeoutMs: 90_000,
      },
    );
    const get = (path: string, token: string | null) =>
      fetch(`${server.url}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    const run = await until(
      'the first scheduled run',
      async () =>
        ((await (await get('/v1/verify/runs', operatorToken)).json()) as { items: VerifyRun[] }).items[0],
      170_000,
    );
    expect(run, JSON.stringify(run.report)).toMatchObject({
      verdict: 'clean',
      target: server.url,
      leaks: 0,
      unexercised: 0,
    });
    expect(run.operations).toBeGreaterThanOrEqual(45);
    expect(run.exercised).toBe(run.operations);

    const metrics = await get('/metrics', metricsToken);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const body = await metrics.text();
    expect(sample(body, 'bulkhead_isolation_runs_total{verdict="clean"}')).toBe(1);
    expect(sample(body, 'bulkhead_isolation_checks_total{verdict="pass"}')).toBe(run.checks);
    expect(sample(body, 'bulkhead_isolation_last_run_success')).toBe(1);
    expect(sample(body, 'bulkhead_isolation_last_run_timestamp_seconds')).toBe(
      Date.parse(run.finishedAt) / 1000,
    );
    expect(body).not.toMatch(/dom_|verify-[ab]-/);
    expect((await get('/metrics', operatorToken)).status).toBe(200);
    expect((await get('/metrics', null)).status).toBe(401);
    // The metrics token reads the metrics and nothing else.
    const refused = await get('/v1/verify/runs', metricsToken);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('operator_required');
    expect((await get('/v1/domains', metricsToken)).status).toBe(403);

    const history = await runCli(['--url', server.url, 'verify', 'history'], {
      env: { BULKHEAD_OPERATOR_TOKEN: operatorToken },
    });
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toMatch(
      new RegExp(`^${run.id}\\s+\\S+\\s+${server.url.replaceAll('.', '\\.')}\\s+clean\\s+0\\s+0\\s+`, 'm'),
    );

    // A schedule whose first run is refused for its setup stops at once, exit 2.
    const refusedRun = await runCli(['verify', '--url', server.url, '--every', '1s'], {
      env: { BULKHEAD_OPERATOR_TOKEN: 'not-the-operator-token-0123456789abcdef' },
    });
    expect(refusedRun.code).toBe(2);
    expect(refusedRun.stderr).toMatch(/refused the operator token \(HTTP 401\)/);

    // The probe domains are gone; then SIGTERM ends the server.
    const domains = (
      (await (await get('/v1/domains?includeDeleted=true', operatorToken)).json()) as {
        items: { slug: string; status: string }[];
      }
    ).items.filter((d) => d.slug.startsWith('verify-'));
    expect(domains.map((d) => d.status)).toEqual(['deleted', 'deleted']);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 240_000);
});
