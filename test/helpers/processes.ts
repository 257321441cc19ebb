// Runs the built `bulkhead` binary as a real child process, with an environment built from nothing but
// what the test passes (plus PATH and HOME), so a developer's BULKHEAD_… variables never leak in.
// The tests need `npm run build` to have run: a missing or stale dist/ fails them with a clear message.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const binPath = join(repoRoot, 'bin', 'bulkhead.js');
const srcDir = join(repoRoot, 'src');
const distDir = join(repoRoot, 'dist');
const sdkDir = join(repoRoot, 'packages', 'sdk');

/** Throws unless dist/ holds a build at least as new as every source file. */
export function assertBuilt(): void {
  const main = join(distDir, 'cli', 'main.js');
  if (!existsSync(main)) {
    throw new Error(`${relative(repoRoot, main)} is missing: run "npm run build" first (npm test does).`);
  }
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
    );
  // The server's sources, and the SDK's (packages/sdk), which the built server imports from its dist/.
  for (const [sources, built] of [
    [srcDir, distDir],
    [join(sdkDir, 'src'), join(sdkDir, 'dist')],
  ] as const) {
    for (const source of walk(sources)) {
      if (!source.endsWith('.ts') || source.endsWith('.test.ts') || source.endsWith('.d.ts')) continue;
      const output = join(built, relative(sources, source)).replace(/\.ts$/, '.js');
      if (!existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs) {
        throw new Error(
          `${relative(repoRoot, output)} is older than ${relative(repoRoot, source)}: run "npm run build" first.`,
        );
      }
    }
  }
}

/** A fresh directory under the OS temp dir; `remove` deletes it and everything in it. */
export function tempDir(prefix = 'bulkhead-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** The environment a child gets: PATH and HOME from this process, then exactly `vars`. */
export function childEnv(vars: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...vars };
}

const live = new Set<ChildProcess>();

function track(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  live.add(child);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      live.delete(child);
      reject(error);
    });
    // 'close', not 'exit': by then everything the child wrote has been read.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
}

/** Kills every child this module started that is still running, and waits for each to exit. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Written to the child's standard input, which is then closed (at once, without it). */
  readonly input?: string;
}

/** Runs `bulkhead <args>` to completion. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: childEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => {}); // a child may exit without reading its input
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timeoutMs = options.timeoutMs ?? 45_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const { code, signal } = await track(child);
    if (signal !== null) {
      throw new Error(
        `bulkhead ${args.join(' ')} was killed (${signal}) after ${timeoutMs} ms\n` +
          `stdout: ${stdout}\nstderr: ${stderr}`,
      );
    }
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export interface Process {
  readonly child: ChildProcess;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when stdout or stderr has a line matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Server extends Process {
  /** The base URL from the "Bulkhead listening on …" line. */
  readonly url: string;
  /** The store kind from that line. */
  readonly store: string;
}

/** Starts `bulkhead <args>` and returns at once; killAll() ends it if the test does not. */
export function startProcess(args: readonly string[], options: RunOptions = {}): Process {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  exited.catch(() => {}); // reported through the waits below
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const onData = () => waiters.forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    onData();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    onData();
  });
  const output = () => ({ stdout, stderr });

  const waitFor = (pattern: RegExp, timeoutMs = 45_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = `${stdout}\n${stderr}`.split('\n').find((l) => pattern.test(l));
        if (line === undefined) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no line matching ${pattern} after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
          ),
        );
      }, timeoutMs);
      const onExit = ({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }) => {
        check();
        done();
        reject(
          new Error(
            `the process exited (code ${code}, signal ${signal}) before printing ${pattern}\n` +
              `stdout: ${stdout}\nstderr: ${stderr}`,
          ),
        );
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      exited.then(onExit, reject);
      check();
    });
  return { child, output, waitFor, exited };
}

/** Starts `bulkhead <args>` (a `serve`) and resolves once it is listening; rejects if it exits first. */
export async function startServer(args: readonly string[], options: RunOptions = {}): Promise<Server> {
  const started = startProcess(args, options);
  const line = await started.waitFor(/^Bulkhead listening on /, options.timeoutMs ?? 60_000);
  const match = /^Bulkhead listening on (http:\/\/\S+) \(store: (\w+)\)$/.exec(line);
  if (match === null) throw new Error(`unexpected listening line: ${line}`);
  return { ...started, url: match[1]!, store: match[2]! };
}

/** A TCP port on 127.0.0.1 that nothing listens on at the moment of asking, for a server a test starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a started server is listening). */
export function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
