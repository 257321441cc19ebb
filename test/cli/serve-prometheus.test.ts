// A real Prometheus (Debian's) scrapes `bulkhead serve` every second, with the metrics token and the
// alert rules of deploy/, and sees the request, authentication and provisioning series move as requests
// are made, asked through its own HTTP API. promtool passes the scraped text and the rules, and every
// metric the alert rules and the Grafana dashboard of deploy/ name is one the server exposes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDomainWithKey, httpCallerOf, operatorToken, unique } from '../helpers/api.js';
import { assertBuilt, freePort, killAll, repoRoot, startServer, tempDir } from '../helpers/processes.js';

const rulesFile = join(repoRoot, 'deploy', 'prometheus', 'bulkhead.rules.yml');
const dashboardFile = join(repoRoot, 'deploy', 'grafana', 'bulkhead-dashboard.json');
const metricsToken = 'test-metrics-token-0123456789abcdef-0123';

/** One number from an instant query: the sum of what it returns, 0 when it returns nothing. */
async function query(prometheus: string, expr: string): Promise<number> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  expect(body.status).toBe('success');
  return body.data.result.reduce((sum, r) => sum + Number(r.value[1]), 0);
}

async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The metric names an expression uses (ours and the process's): words that start like them. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:bulkhead|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

describe('Prometheus scrapes bulkhead serve', () => {
  const dir = tempDir('bulkhead-prometheus-');
  let prometheus: ChildProcess;
  let promUrl: string;
  let serverUrl: string;
  let scraped: string;

  beforeAll(async () => {
    assertBuilt();
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], {
      env: {
        BULKHEAD_DATA_DIR: join(dir.path, 'bulkhead'),
        BULKHEAD_OPERATOR_TOKEN: operatorToken,
        BULKHEAD_METRICS_TOKEN: metricsToken,
        BULKHEAD_BILLING_CLOSE_AFTER: 'off',
      },
    });
    serverUrl = server.url;
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = join(dir.path, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ['${rulesFile}']`,
        'scrape_configs:',
        '  - job_name: bulkhead',
        '    metrics_path: /metrics',
        `    authorization: { type: Bearer, credentials: '${metricsToken}' }`,
        `    static_configs: [{ targets: ['${new URL(serverUrl).host}'] }]`,
        '',
      ].join('\n'),
    );
    // The binary itself, on a port and data directory of this test's own (not the system service).
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    await until(async () => {
      try {
        return (await query(promUrl, 'up{job="bulkhead"} == 1')) === 1;
      } catch {
        return false;
      }
    }, 'Prometheus to scrape the server');
  });
  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await killAll();
    dir.remove();
  });

  it('sees request, authentication and provisioning series move as requests are made', async () => {
    const created =
      'bulkhead_http_requests_total{route="/v1/domains/:domainId/resources",method="POST",status="201"}';
    const keyOk = 'bulkhead_auth_attempts_total{credential="key",outcome="success"}';
    const keyDenied = 'bulkhead_auth_attempts_total{credential="key",outcome="denied"}';
    const provisioned =
      'bulkhead_provisioning_duration_seconds_count{kind="storage",operation="create",outcome="success"}';
    const before = {
      created: await query(promUrl, created),
      keyOk: await query(promUrl, keyOk),
      keyDenied: await query(promUrl, keyDenied),
      provisioned: await query(promUrl, provisioned),
    };
    expect(before).toEqual({ created: 0, keyOk: 0, keyDenied: 0, provisioned: 0 });
    const call = httpCallerOf(serverUrl);
    const domain = await createDomainWithKey(call, { slug: unique('scraped') });
    for (const name of ['one', 'two']) {
      const res = await call('POST', `/v1/domains/${domain.id}/resources`, {
        token: domain.key,
        body: { kind: 'storage', name },
      });
      expect(res.status).toBe(201);
    }
    expect(
      (await call('GET', `/v1/domains/${domain.id}/resources`, { token: `${domain.key}x` })).status,
    ).toBe(401);
    await until(
      async () =>
        (await query(promUrl, created)) === 2 &&
        (await query(promUrl, keyOk)) >= 2 &&
        (await query(promUrl, keyDenied)) === 1 &&
        (await query(promUrl, provisioned)) === 2,
      'the series to move',
    );
    // Process and event-loop metrics are scraped too.
    expect(await query(promUrl, 'process_resident_memory_bytes{job="bulkhead"}')).toBeGreaterThan(0);
    expect(await query(promUrl, 'count(nodejs_eventloop_lag_seconds{job="bulkhead"})')).toBe(1);
    // The alert rules were loaded and evaluated.
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { health: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.length).toBeGreaterThan(0);
    for (const rule of loaded) expect(rule.health).not.toBe('err');
  });

  it('serves text that promtool passes', async () => {
    const res = await fetch(`${serverUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    scraped = await res.text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scraped, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });

  it('has alert rules that promtool passes', () => {
    const check = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });

  it('exposes every metric the alert rules and the dashboard use', () => {
    const exposed = new Set<string>();
    for (const [, name, type] of scraped.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exposed.add(name!);
      if (type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) exposed.add(`${name!}${s}`);
    }
    const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...[...readFileSync(rulesFile, 'utf8').matchAll(/expr: ([^\n]*(?:\n {10,}[^\n]*)*)/g)].map(
        (m) => m[1]!,
      ),
    ];
    const used = new Set(exprs.flatMap(metricNames));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
    for (const panel of dashboard.panels) expect(panel.targets.length, panel.title).toBeGreaterThan(0);
  });
});
