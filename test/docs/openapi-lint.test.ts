// The OpenAPI document the server publishes passes both linters its clients' tools are built on, with no
// error and no warning: Redocly's recommended rules (redocly.yaml) and Spectral's OpenAPI ruleset
// (.spectral.yaml). A rule switched off is switched off in those files, with its reason beside it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { repoRoot } from '../helpers/processes.js';

const run = promisify(execFile);
const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);

/** Runs a linter; its exit code is not the verdict (the counts in its JSON report are), only its output. */
async function lint(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      // The linters' own exit codes follow their severities; the verdict is read from their reports.
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    if (stdout === undefined) throw new Error(`${command} failed: ${stderr}`);
    return stdout;
  }
}

describe('the OpenAPI document', () => {
  let api: TestApi;
  let dir: string;
  let file: string;
  beforeAll(async () => {
    api = await openTestApi(backends[0]!);
    dir = await mkdtemp(join(tmpdir(), 'bulkhead-openapi-'));
    file = join(dir, 'openapi.json');
    const res = await api.call('GET', '/openapi.json', { token: null });
    expect(res.statusCode).toBe(200);
    await writeFile(file, res.body);
  });
  afterAll(async () => {
    await api?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('passes redocly lint (recommended) with no error and no warning', async () => {
    const out = await lint(bin('redocly'), [
      'lint',
      '--config',
      join(repoRoot, 'redocly.yaml'),
      '--format',
      'json',
      file,
    ]);
    const report = JSON.parse(out.slice(out.indexOf('{'))) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
    };
    const problems = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 120_000);

  it('passes spectral lint (spectral:oas) with no error and no warning', async () => {
    const output = join(dir, 'spectral.json');
    await lint(bin('spectral'), [
      'lint',
      '--ruleset',
      join(repoRoot, '.spectral.yaml'),
      '--format',
      'json',
      '--output',
      output,
      '--fail-severity',
      'hint',
      file,
    ]);
    const results = JSON.parse(await readFile(output, 'utf8')) as {
      code: string;
      severity: number;
      path: string[];
      message: string;
    }[];
    // Severity 0 is an error and 1 a warning; information and hints are listed but do not fail.
    const problems = results
      .filter((r) => r.severity <= 1)
      .map((r) => `${r.code} ${r.path.join('.')}: ${r.message}`);
    expect(problems).toEqual([]);
  }, 120_000);
});
