// The reference tables in docs/ stay true to the code: every environment variable the server or the CLI
// reads is in docs/operating.md's configuration table (and nothing else is), every error code the API can
// answer with is in docs/api.md's error table with its status (and nothing else is), and the shape
// docs/api.md gives for `GET /v1/whoami` names every field the API answers with. A variable or a code
// added without its line in the docs fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorStatus } from '../../src/errors.js';
import { openTestApi, type TestApi } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { repoRoot } from '../helpers/processes.js';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

/** The lines of the `## heading` section of a markdown file, up to the next heading of that level. */
function section(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l === `## ${heading}`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The cells of each body row of the first table in `lines` (the header and the rule are left out). */
function tableRows(lines: readonly string[]): string[][] {
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every BULKHEAD_… variable the code reads: the configuration's names, and direct reads of the env. */
function variablesRead(): Map<string, string> {
  const found = new Map<string, string>();
  const config = read('src/config.ts');
  const names = /const envNames[^{]*\{([^}]*)\}/.exec(config);
  if (names === null) throw new Error('src/config.ts has no envNames table');
  for (const [, name] of names[1]!.matchAll(/'(BULKHEAD_[A-Z0-9_]+)'/g)) found.set(name!, 'src/config.ts');
  const direct = /\benv(?:\.|\[\s*['"`])(BULKHEAD_[A-Z0-9_]+)/g;
  for (const file of sourceFiles(join(repoRoot, 'src'))) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(direct)) {
      if (!found.has(name!)) found.set(name!, relative(repoRoot, file));
    }
  }
  return found;
}

describe('docs/operating.md', () => {
  const rows = tableRows(section(read('docs/operating.md'), 'Configuration'));
  const documented = new Set(
    rows.flatMap((r) => [...r[0]!.matchAll(/`(BULKHEAD_[A-Z0-9_]+)`/g)].map((m) => m[1]!)),
  );
  const read_ = variablesRead();

  it('finds the variables the code reads', () => {
    // A guard on the parsing above: these are read today, in config.ts and outside it.
    expect([...read_.keys()]).toEqual(expect.arrayContaining(['BULKHEAD_HOST', 'BULKHEAD_POSTGRES_URL']));
    expect(read_.size).toBeGreaterThan(40);
  });

  it('has every variable the code reads in its configuration table', () => {
    const missing = [...read_].filter(([name]) => !documented.has(name)).map(([n, file]) => `${n} (${file})`);
    expect(missing, 'add a row to the table in docs/operating.md#configuration for each').toEqual([]);
  });

  it('has no variable in its configuration table that the code does not read', () => {
    const stale = [...documented].filter((name) => !read_.has(name));
    expect(stale, 'remove these rows, or read the variable').toEqual([]);
  });

  it('gives each row a meaning', () => {
    for (const row of rows) expect(row[3], row[0]).toMatch(/\w/);
  });
});

describe('docs/api.md', () => {
  const rows = tableRows(section(read('docs/api.md'), 'Errors'));
  const documented = new Map<string, number>();
  for (const [status, codes] of rows) {
    for (const [, code] of codes!.matchAll(/`([a-z_]+)`/g)) documented.set(code!, Number(status));
  }

  it('has every error code in its error table, with the status the API answers it with', () => {
    const expected = Object.entries(errorStatus).sort(([a], [b]) => a.localeCompare(b));
    const actual = expected.map(([code]) => [code, documented.get(code) ?? 'missing']);
    expect(actual).toEqual(expected);
  });

  it('has every code the code throws or reports in its error table', () => {
    // The union above is closed (the type checker holds every throw to it); this catches a code spelt in
    // a way that escapes it, such as a problem detail's code in an HTTP hook.
    const used = new Set<string>();
    const pattern = /(?:BulkheadError\(\s*|\bcode:\s*)'([a-z][a-z_]+)'/g;
    for (const file of sourceFiles(join(repoRoot, 'src', 'http'))) {
      for (const [, code] of readFileSync(file, 'utf8').matchAll(pattern)) used.add(code!);
    }
    for (const file of sourceFiles(join(repoRoot, 'src'))) {
      for (const [, code] of readFileSync(file, 'utf8').matchAll(/new BulkheadError\(\s*'([a-z_]+)'/g)) {
        used.add(code!);
      }
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((code) => !documented.has(code))).toEqual([]);
  });

  it('has no code in its error table that the API does not answer with', () => {
    expect([...documented.keys()].filter((code) => !(code in errorStatus))).toEqual([]);
  });

  describe('GET /v1/whoami', () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await openTestApi(backends[0]!);
    });
    afterAll(async () => {
      await api?.close();
    });

    it('names every field of the answer', async () => {
      const spec = (await api.call('GET', '/openapi.json')).json<{
        paths: Record<string, { get: { responses: Record<string, unknown> } }>;
      }>();
      const ok = spec.paths['/v1/whoami']!.get.responses['200'] as {
        content: { 'application/json': { schema: { properties: Record<string, unknown> } } };
      };
      const fields = Object.keys(ok.content['application/json'].schema.properties).sort();
      const row = tableRows(section(read('docs/api.md'), 'Endpoints')).find((r) =>
        r[0]!.startsWith('`GET /v1/whoami`'),
      );
      const shape = /`\{([^}`]*)\}`/.exec(row![2]!);
      expect(shape, row![2]).not.toBeNull();
      const documentedFields = shape![1]!.split(',').map((f) => f.trim().replace(/\?$/, ''));
      expect(documentedFields.sort()).toEqual(fields);
    });
  });
});
