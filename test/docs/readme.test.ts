// README.md and the walkthroughs in docs/ run as written: their shell blocks, in order, in one bash
// session in a fresh directory, against a server the walkthrough starts itself (its own data directory,
// a free port, the real PostgreSQL for the postgres provider), each command's output compared with what
// the document shows. A step that fails, or prints something else than the document says, fails here with
// the line, the command and what it printed. The conventions are in docs/development.md.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testPostgresUrl } from '../helpers/backends.js';
import { adminQuery, dropEverything } from '../helpers/postgres-tenant.js';
import { assertBuilt, repoRoot } from '../helpers/processes.js';
import { matchOutput, openWalkthrough, parseWalkthrough, type Walkthrough } from '../helpers/walkthrough.js';

/** The documents that are walkthroughs, with the names in them that other runs on this machine share. */
const documents: readonly { file: string; shared: readonly string[] }[] = [
  { file: 'README.md', shared: ['bulkhead_demo'] },
  { file: 'docs/provisioning.md', shared: [] },
];

describe('the walkthrough format', () => {
  it('reads commands, continuations, expected output and the server blocks', () => {
    const steps = parseWalkthrough(
      [
        '<!-- walkthrough: setup -->',
        '',
        '```sh',
        'npm ci',
        '```',
        '',
        '<!-- walkthrough: server -->',
        '',
        '```sh',
        'X=1 npm start',
        '```',
        '',
        '```',
        'token: <token>',
        '```',
        '',
        '```sh',
        'echo a \\',
        '  b   # says a b',
        '# a b',
        'echo <token>',
        '',
        '# a note of its own',
        'true',
        '```',
      ].join('\n'),
    );
    expect(steps).toEqual([
      { line: 10, kind: 'server', command: 'X=1 npm start', expected: ['token: <token>'] },
      { line: 18, kind: 'run', command: 'echo a \\\n  b   # says a b', expected: ['a b'] },
      { line: 21, kind: 'run', command: 'echo <token>', expected: [] },
      { line: 24, kind: 'run', command: 'true', expected: [] },
    ]);
  });

  it('matches expected lines in order, with … for anything and captures', () => {
    const out = 'one\nID   SLUG\ndom_1  acme  Acme Inc\ntoken: bho_x\n';
    expect(matchOutput(['ID SLUG', 'dom_…  acme  …', 'token: <t>'], out)).toEqual({
      ok: true,
      captures: { t: 'bho_x' },
    });
    expect(matchOutput(['dom_…', 'ID SLUG'], out)).toEqual({ ok: false, missing: 'ID SLUG' });
    expect(matchOutput(['acme'], out)).toEqual({ ok: false, missing: 'acme' });
  });

  it('refuses a command left incomplete, and one that fails, and goes on after neither', async () => {
    const walk = await openWalkthrough({ postgresUrl: testPostgresUrl });
    try {
      const step = (command: string, expected: string[] = []) => ({
        line: 1,
        kind: 'run' as const,
        command,
        expected,
      });
      await expect(walk.run(step('echo "unclosed'))).rejects.toThrow(/not a complete command/);
      await expect(walk.run(step('false'))).rejects.toThrow(/exit 1 at line 1: false/);
      await expect(walk.run(step('echo no', ['yes']))).rejects.toThrow(/no line like "# yes"/);
      await walk.run(step('X=$(echo two words)'));
      expect((await walk.run(step('echo "$X" from $PWD', ['two words from …']))).output).toContain(walk.dir);
    } finally {
      await walk.close();
    }
  });
});

describe.each(documents)('$file runs as written', ({ file, shared }) => {
  let walk: Walkthrough | undefined;
  const replace = Object.fromEntries(shared.map((n) => [n, `${n}_${randomBytes(4).toString('hex')}`]));

  afterAll(async () => {
    const transcript = walk?.transcript() ?? '';
    await walk?.close();
    // What the walkthrough made on the shared PostgreSQL server: its tenants' roles and databases, and
    // the databases it named.
    const tenants = new Set([...transcript.matchAll(/postgres:\/\/(bh_[a-z0-9_]+):/g)].map((m) => m[1]!));
    await dropEverything(tenants);
    for (const database of Object.values(replace)) {
      await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  }, 60_000);

  it('runs every step and prints what the document shows', async () => {
    assertBuilt();
    const steps = parseWalkthrough(readFileSync(join(repoRoot, file), 'utf8'));
    expect(
      steps.filter((s) => s.kind === 'server').length,
      'the walkthrough starts its server',
    ).toBeGreaterThan(0);
    walk = await openWalkthrough({ postgresUrl: testPostgresUrl, replace });
    for (const step of steps) {
      try {
        await walk.run(step);
      } catch (error) {
        throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
      }
    }
  }, 900_000);
});
