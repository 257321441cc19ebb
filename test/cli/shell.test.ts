// What the CLI does for the shell around it: --version, completion scripts generated from the command
// tree (checked by bash itself), a progress line on slow work, the fix an error carries, and a quiet end
// when the reader of its output goes away.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withProgress, type Io } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';
import { assertBuilt, binPath, childEnv, repoRoot, tempDir } from '../helpers/processes.js';

const run = promisify(execFile);

function capture(input = ''): Io & { stdout: string[]; stderr: string[]; shown: (string | null)[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const shown: (string | null)[] = [];
  return {
    stdout,
    stderr,
    shown,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    input: () => Promise.resolve(input),
    progress: (l) => shown.push(l),
  };
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = capture();
  const code = await main(['node', 'bulkhead', ...args], io, env);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

describe('bulkhead --version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V'])
      expect(await cli([flag])).toMatchObject({ code: 0, stdout: version });
  });
});

describe('bulkhead completion', () => {
  let dir: { path: string; remove(): void };
  let script: string;
  beforeAll(async () => {
    dir = tempDir('bulkhead-completion-');
    const result = await cli(['completion', 'bash']);
    expect(result.code).toBe(0);
    script = join(dir.path, 'bulkhead.bash');
    writeFileSync(script, `${result.stdout}\n`);
  });
  afterAll(() => dir.remove());

  /** What bash completes for the words typed so far (the last one being completed). */
  async function complete(...words: string[]): Promise<string[]> {
    const array = words.map((w) => `'${w}'`).join(' ');
    const { stdout } = await run('bash', [
      '-c',
      `source '${script}'; COMP_WORDS=(bulkhead ${array}); COMP_CWORD=${words.length}; ` +
        `_bulkhead_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
    return stdout.split('\n').filter((l) => l !== '');
  }

  it('prints a bash script that bash accepts', async () => {
    await run('bash', ['-n', script]);
    expect(readFileSync(script, 'utf8')).toContain('complete -o default -F _bulkhead_complete bulkhead');
  });

  it('completes commands, subcommands and options from the command tree', async () => {
    expect(await complete('vol')).toEqual(['volume']);
    const top = await complete('');
    for (const name of [
      'instance',
      'volume',
      'object',
      'grant',
      'principal',
      'session',
      'pool',
      'blueprint',
      'completion',
    ])
      expect(top).toContain(name);
    expect(await complete('volume', 'at')).toEqual(['attach']);
    expect(await complete('--url', 'http://x', 'grant', 'create', '--expires-')).toEqual([
      '--expires-in',
      '--expires-at',
    ]);
    expect(await complete('principal', 'create', '--kind', '')).toEqual(['user', 'service']);
  });

  it('prints zsh and fish scripts from the same tree', async () => {
    const zsh = await cli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef bulkhead$/m);
    expect(zsh.stdout).toContain('bashcompinit');
    const fish = await cli(['completion', 'fish']);
    expect(fish.code).toBe(0);
    expect(fish.stdout).toContain("complete -c bulkhead -n '__fish_use_subcommand' -a volume");
    expect(fish.stdout).toMatch(
      /__fish_seen_subcommand_from volume; and __fish_seen_subcommand_from attach' -l instance -r/,
    );
  });

  it('refuses an unknown shell as a usage error', async () => {
    expect((await cli(['completion', 'tcsh'])).code).toBe(2);
  });
});

describe('the progress line', () => {
  it('appears once work takes more than a second, and is cleared when it ends', async () => {
    const io = capture();
    const value = await withProgress(io, 'working…', () => new Promise((r) => setTimeout(() => r(42), 1300)));
    expect(value).toBe(42);
    expect(io.shown).toEqual(['working… (1 s)', null]);
    expect(io.stdout).toEqual([]);
  });

  it('never shows for quick work', async () => {
    const io = capture();
    await withProgress(io, 'quick', () => Promise.resolve());
    expect(io.shown).toEqual([]);
  });
});

describe('an error that carries a fix', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Stands in for a server whose answer carries a one-line fix, the way provisioning failures do.
    server = createServer((_req, res) => {
      res.writeHead(409, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({ code: 'slug_taken', detail: 'The slug is taken.', hint: 'Pick another slug.' }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('prints the hint on its own line after the error', async () => {
    const result = await cli(['--url', url, 'domain', 'create', 'taken'], {
      BULKHEAD_OPERATOR_TOKEN: 'shell-test-operator-token-0123456789ab',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toEqual([
      'bulkhead: slug_taken: The slug is taken.',
      'hint: Pick another slug.',
    ]);
  });
});

describe('a closed pipe', () => {
  let dir: { path: string; remove(): void };
  beforeAll(async () => {
    assertBuilt();
    dir = tempDir('bulkhead-epipe-');
    for (const slug of ['pipe-one', 'pipe-two', 'pipe-three'])
      expect((await cli(['--data-dir', dir.path, 'domain', 'create', slug])).code).toBe(0);
  }, 120_000);
  afterAll(() => dir.remove());

  /** Runs the built CLI with its standard output closed before it writes a byte (`… | head -0`). */
  function closedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [binPath, ...args], {
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
  }

  it('ends audit list and audit export quietly, without a stack trace', async () => {
    for (const command of [
      ['audit', 'list'],
      ['audit', 'export'],
    ]) {
      const result = await closedStdout(['--data-dir', dir.path, ...command]);
      expect(result, command.join(' ')).toEqual({ code: 0, stderr: '' });
    }
  }, 60_000);
});
