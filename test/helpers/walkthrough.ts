// Runs a markdown walkthrough (README.md, docs/*.md) as a reader would: its ```sh blocks in order, one
// command at a time, in one bash session (so variables and aliases carry over), against a server of its
// own, and compares what each command prints with what the document shows. The conventions, described for
// writers in docs/development.md#walkthroughs-that-run:
//
// - A ```sh block is run, command by command (a line, with its `\` continuations). Each must exit 0; to
//   show a failing command, the document writes `cmd; echo "exit $?"`.
// - Lines starting with `# ` right under a command are its expected output: each must match a line of
//   what it printed (stdout and stderr), in order, others may come between. `…` matches anything, and
//   runs of spaces match any run of spaces. A comment after a command on its own line is not matched.
// - `<!-- walkthrough: setup -->` on the line before a block: not run (installing, building, testing;
//   the runner has done its part already).
// - `<!-- walkthrough: server -->`: the block starts the server (`VAR=value … npm start`). The runner stops
//   the server it started before, if any, and starts `bulkhead serve` with those variables on its own port
//   in the walkthrough's directory. A plain ``` block right after it is the server's expected output.
// - `<name>` in expected output captures the word printed there; `<name>` in a later command is replaced
//   by it (what a reader pastes, such as the operator token printed by the server in another terminal).
// - The document's addresses (`http://127.0.0.1:8080`, `postgres://postgres@127.0.0.1:5432/…`) and any
//   names the test gives are replaced by the test's own, in commands and expected output alike.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv, freePort, repoRoot, startServer, tempDir, type Server } from './processes.js';

export interface Step {
  /** The document's line number of the command's first line. */
  readonly line: number;
  readonly kind: 'run' | 'server';
  /** The command as written (continuation lines joined with their backslash-newlines). */
  readonly command: string;
  /** The expected output lines, without their `# `. */
  readonly expected: readonly string[];
}

const marker = /^<!--\s*walkthrough:\s*(setup|server)\s*-->$/;

/** The steps of a markdown walkthrough, in order. */
export function parseWalkthrough(markdown: string): Step[] {
  const lines = markdown.split('\n');
  const steps: Step[] = [];
  let pending: 'setup' | 'server' | null = null;
  let lastServer: { line: number; command: string; expected: string[] } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const mark = marker.exec(line.trim());
    if (mark !== null) {
      pending = mark[1] as 'setup' | 'server';
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence === null) {
      if (line.trim() !== '') lastServer = null;
      continue;
    }
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    const body = lines.slice(start, end);
    i = end;
    const language = fence[1]!;
    if (language === '' && lastServer !== null) {
      // The server's output, shown right under the block that starts it.
      lastServer.expected.push(...body.filter((l) => l.trim() !== ''));
      lastServer = null;
      continue;
    }
    lastServer = null;
    const mode = pending;
    pending = null;
    if (language !== 'sh' || mode === 'setup') continue;
    const commands = commandsOf(body, start + 1);
    if (mode === 'server') {
      if (commands.length !== 1) throw new Error(`line ${start}: a server block holds one command`);
      const step = { ...commands[0]!, kind: 'server' as const, expected: [...commands[0]!.expected] };
      steps.push(step);
      lastServer = step;
    } else {
      steps.push(...commands.map((c) => ({ ...c, kind: 'run' as const })));
    }
  }
  return steps;
}

function commandsOf(
  body: readonly string[],
  firstLine: number,
): { line: number; command: string; expected: string[] }[] {
  const commands: { line: number; command: string; expected: string[] }[] = [];
  let current: { line: number; command: string; expected: string[] } | null = null;
  for (let i = 0; i < body.length; i++) {
    const line = body[i]!;
    if (line.trim() === '') {
      current = null;
      continue;
    }
    if (line.startsWith('#')) {
      if (current === null) continue; // a comment of its own, before any command
      current.expected.push(line.replace(/^# ?/, ''));
      continue;
    }
    let command = line;
    const at = i;
    while (command.endsWith('\\') && i + 1 < body.length) command += `\n${body[++i]!}`;
    if (current !== null && current.expected.length > 0) current = null;
    current = { line: firstLine + at, command, expected: [] };
    commands.push(current);
  }
  return commands;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The regular expression for one expected line: `…` is anything, a run of spaces any run of spaces,
 * `<name>` a word that is captured.
 */
function linePattern(expected: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = expected
    .trim()
    .split(/(…|<[a-z][a-z0-9-]*>|\s+)/)
    .map((part) => {
      if (part === '…') return '.*?';
      if (/^\s+$/.test(part)) return '\\s+';
      const capture = /^<([a-z][a-z0-9-]*)>$/.exec(part);
      if (capture !== null) {
        names.push(capture[1]!);
        return '(\\S+)';
      }
      return escape(part);
    })
    .join('');
  return { pattern: new RegExp(`^\\s*${source}\\s*$`), names };
}

/** Matches `expected` lines in order against `actual`; answers the captures, or the first line missing. */
export function matchOutput(
  expected: readonly string[],
  actual: string,
): { ok: true; captures: Record<string, string> } | { ok: false; missing: string } {
  const lines = actual.split('\n');
  const captures: Record<string, string> = {};
  let from = 0;
  for (const want of expected) {
    const { pattern, names } = linePattern(want);
    let found = -1;
    for (let i = from; i < lines.length; i++) {
      const m = pattern.exec(lines[i]!);
      if (m === null) continue;
      names.forEach((name, k) => (captures[name] = m[k + 1]!));
      found = i;
      break;
    }
    if (found < 0) return { ok: false, missing: want };
    from = found + 1;
  }
  return { ok: true, captures };
}

export interface WalkthroughOptions {
  /** The admin URL the document's `postgres://postgres@127.0.0.1:5432/…` stands for. */
  readonly postgresUrl: string;
  /** Further words of the document to replace (names shared with other runs, such as a database). */
  readonly replace?: Readonly<Record<string, string>>;
  /** Milliseconds a command may take. */
  readonly stepTimeoutMs?: number;
}

export interface StepResult {
  readonly step: Step;
  /** The command as it ran. */
  readonly ran: string;
  readonly output: string;
  readonly code: number;
}

export interface Walkthrough {
  /** The directory it runs in (`$PWD`), with `bin/` of this repository in it. */
  readonly dir: string;
  /** Runs one step; throws, with what ran and what it printed, when it fails or prints something else. */
  run(step: Step): Promise<StepResult>;
  /** Everything every step printed so far, servers included. */
  transcript(): string;
  close(): Promise<void>;
}

/** A fresh directory, a bash session in it, and no server yet. */
export async function openWalkthrough(options: WalkthroughOptions): Promise<Walkthrough> {
  const dir = tempDir('bulkhead-walkthrough-');
  symlinkSync(join(repoRoot, 'bin'), join(dir.path, 'bin'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const admin = new URL(options.postgresUrl);
  const adminBase = `${admin.protocol}//${admin.username === '' ? '' : `${admin.username}${admin.password === '' ? '' : `:${admin.password}`}@`}${admin.host}`;
  const replacements: [string, string][] = [
    ['http://127.0.0.1:8080', url],
    ['postgres://postgres@127.0.0.1:5432', adminBase],
    ...Object.entries(options.replace ?? {}),
  ];
  const substitute = (text: string) => replacements.reduce((t, [from, to]) => t.split(from).join(to), text);
  const captures: Record<string, string> = {};
  const fill = (command: string) =>
    command.replace(/<([a-z][a-z0-9-]*)>/g, (whole, name: string) => {
      const value = captures[name];
      if (value === undefined) throw new Error(`${whole} is used before any output showed it`);
      return value;
    });

  const shell = bashSession(dir.path, childEnv({ LANG: 'C.UTF-8', TERM: 'dumb' }));
  let transcript = '';
  let server: Server | null = null;

  const runInShell = (command: string, timeoutMs: number) => {
    // An unclosed quote would swallow the steps after it; a command must be complete on its own.
    const syntax = spawnSync('bash', ['-n', '-c', command], { encoding: 'utf8' });
    if (syntax.status !== 0) {
      return Promise.reject(
        new Error(`not a complete command (a quote or a \\ continuation?): ${syntax.stderr}`),
      );
    }
    return shell.run(command, timeoutMs);
  };

  const stopServer = async () => {
    if (server === null) return;
    server.child.kill('SIGINT'); // Ctrl-C in its terminal
    await server.exited;
    server = null;
  };

  const startDocumentedServer = async (command: string): Promise<string> => {
    const words = command.replace(/#.*$/, '').trim().split(/\s+/);
    const vars: Record<string, string> = {};
    while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
      const [name, ...value] = words.shift()!.split('=');
      vars[name!] = value.join('=');
    }
    if (words.join(' ') !== 'npm start')
      throw new Error(`a server block runs "npm start", not "${words.join(' ')}"`);
    await stopServer();
    server = await startServer(['serve'], { cwd: dir.path, env: { ...vars, BULKHEAD_PORT: String(port) } });
    const { stdout, stderr } = server.output();
    return `${stdout}\n${stderr}`;
  };

  return {
    dir: dir.path,
    async run(step) {
      const ran = fill(substitute(step.command));
      const expected = step.expected.map(substitute);
      let output: string;
      let code: number;
      if (step.kind === 'server') {
        output = await startDocumentedServer(ran);
        code = 0;
      } else {
        try {
          ({ output, code } = await runInShell(ran, options.stepTimeoutMs ?? 240_000));
        } catch (error) {
          throw new Error(`line ${step.line}: ${step.command}\n${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      transcript += `$ ${ran}\n${output}\n`;
      const where = `line ${step.line}: ${step.command}\nran: ${ran}\nprinted:\n${output}`;
      if (code !== 0) throw new Error(`exit ${code} at ${where}`);
      const match = matchOutput(expected, output);
      if (!match.ok) throw new Error(`no line like "# ${match.missing}" at ${where}`);
      Object.assign(captures, match.captures);
      return { step, ran, output, code };
    },
    transcript: () => transcript,
    async close() {
      await stopServer();
      await shell.close();
      dir.remove();
    },
  };
}

/** A bash session's answer to one command: what it printed (stdout and stderr together) and its status. */
export interface ShellResult {
  readonly output: string;
  readonly code: number;
}

/**
 * One bash session in `cwd` with `env`, running one command at a time as a person at a terminal would:
 * each command's own stdin is empty, its output is read up to an end marker that carries its status, and
 * a command still running after `timeoutMs` fails the call. `close()` ends the session and, after a grace
 * period, whatever a command left running (the session is a process group of its own).
 */
export function bashSession(
  cwd: string,
  env: NodeJS.ProcessEnv,
): { run(command: string, timeoutMs: number): Promise<ShellResult>; close(): Promise<void> } {
  const shell = spawn('bash', ['--noprofile', '--norc'], {
    cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let buffer = '';
  let waiting: (() => void) | null = null;
  const take = (s: string) => {
    buffer += s;
    waiting?.();
  };
  shell.stdout.setEncoding('utf8').on('data', take);
  shell.stderr.setEncoding('utf8').on('data', take);
  shell.stdin.write('set -o pipefail\nshopt -s expand_aliases\n');
  return {
    run: (command, timeoutMs) =>
      new Promise((resolve, reject) => {
        const done = `__session_${randomBytes(8).toString('hex')}__`;
        buffer = '';
        const timer = setTimeout(() => {
          waiting = null;
          reject(new Error(`no end after ${timeoutMs} ms; printed so far:\n${buffer}`));
        }, timeoutMs);
        waiting = () => {
          const m = new RegExp(`${done} (\\d+)\\n`).exec(buffer);
          if (m === null) return;
          clearTimeout(timer);
          waiting = null;
          resolve({ output: buffer.slice(0, m.index), code: Number(m[1]) });
        };
        shell.stdin.write(`{\n${command}\n} </dev/null 2>&1; printf '\\n%s %d\\n' ${done} $?\n`);
      }),
    async close() {
      const closed = new Promise((resolve) =>
        shell.exitCode !== null ? resolve(null) : shell.once('close', resolve),
      );
      shell.stdin.end('exit\n');
      const grace = setTimeout(() => {
        try {
          process.kill(-shell.pid!, 'SIGKILL'); // a command still running: the shell and all it started
        } catch {
          // already gone
        }
      }, 5_000);
      await closed;
      clearTimeout(grace);
    },
  };
}
