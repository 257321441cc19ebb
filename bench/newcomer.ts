// How long a newcomer takes from a fresh clone to two domains with live, mutually isolated credentials (a
// provisioning key and a PostgreSQL database each), following only the README, against a 120 s target.
//
//   npm run bench:newcomer     (needs git, psql, jq, and the PostgreSQL server at BULKHEAD_TEST_POSTGRES_URL,
//                               default postgres://postgres@127.0.0.1:5432/postgres)
//
// It clones this repository's HEAD (committed work only) into a temporary directory and runs `npm ci` there
// (which installs from the local npm cache when it holds the packages, as on a machine that has installed
// them before; a cold cache adds the download). Then it runs the README's shell blocks as a reader would,
// in one bash session in the clone (test/helpers/walkthrough.ts reads them), each `npm start` block as a
// real `npm start` on a free port, up to and including the step that gives Globex its PostgreSQL database
// (the one that sets GLOBEX_URL). What each step prints must match what the README shows. Last, it checks
// the isolation with psql: each domain's database URL logs in to its own database, and neither domain's
// role and password get into the other's. Each phase's time, the total and its ratio to the target are
// printed. The time a reader spends reading and pasting is not counted. At the end the server is stopped,
// the tenant roles and databases the run made (the `bh_…` names it printed) are dropped, and the
// directory is removed.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testPostgresUrl } from '../test/helpers/backends.js';
import { dropEverything } from '../test/helpers/postgres-tenant.js';
import { freePort } from '../test/helpers/processes.js';
import { bashSession, matchOutput, parseWalkthrough, type Step } from '../test/helpers/walkthrough.js';

const adminUrl = testPostgresUrl;
const targetSeconds = 120;
const lastStep = /\bGLOBEX_URL=/;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** The environment of a newcomer's shell: this one without any BULKHEAD_… variable. */
function cleanEnv(vars: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LANG: 'C.UTF-8', TERM: 'dumb', ...vars };
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('BULKHEAD_') && !name.startsWith('npm_') && !(name in env)) env[name] = value;
  }
  return env;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** `npm start` in `dir` with `vars`, until what it printed matches `expected` (the README's block). */
async function npmStart(
  dir: string,
  vars: Record<string, string>,
  expected: readonly string[],
): Promise<{ child: ChildProcess; output: string; captures: Record<string, string> }> {
  const child = spawn('npm', ['start'], {
    cwd: dir,
    env: cleanEnv(vars),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // npm and the node it starts, one group, stopped together
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start: no match after 300 s:\n${output}`)), 300_000);
    const check = (s: string) => {
      output += s;
      const match = matchOutput(expected, output);
      if (!match.ok) return;
      clearTimeout(timer);
      resolve({ child, output, captures: match.captures });
    };
    child.stdout.setEncoding('utf8').on('data', check);
    child.stderr.setEncoding('utf8').on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code}:\n${output}`));
    });
  });
}

async function stop(child: ChildProcess | null): Promise<void> {
  if (child === null || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid!, 'SIGINT'); // Ctrl-C in its terminal
  } catch {
    return;
  }
  const grace = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 15_000);
  await exited;
  clearTimeout(grace);
}

/** Answers whether `url` logs in (and as whom). */
async function login(url: string): Promise<{ ok: boolean; said: string }> {
  try {
    const { stdout } = await run('psql', [url, '-tAc', 'SELECT current_user'], { env: cleanEnv() });
    return { ok: true, said: stdout.trim() };
  } catch (error) {
    return { ok: false, said: String((error as { stderr?: string }).stderr ?? error).trim() };
  }
}

/** `url`'s role and password, aimed at `other`'s database. */
function crossed(url: string, other: string): string {
  const u = new URL(url);
  u.pathname = new URL(other).pathname;
  return u.toString();
}

async function main(): Promise<void> {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: repoRoot, encoding: 'utf8' }).stdout;
  console.log(
    `clone of ${repoRoot} at ${head.stdout.trim()}${dirty.trim() === '' ? '' : ' (uncommitted work left out)'}`,
  );
  const root = mkdtempSync(join(tmpdir(), 'bulkhead-newcomer-'));
  const clone = join(root, 'bulkhead');
  const admin = new URL(adminUrl);
  const adminBase = `${admin.protocol}//${admin.username === '' ? '' : `${admin.username}${admin.password === '' ? '' : `:${admin.password}`}@`}${admin.host}`;
  const port = await freePort();
  const replacements: [string, string][] = [
    ['http://127.0.0.1:8080', `http://127.0.0.1:${port}`],
    ['postgres://postgres@127.0.0.1:5432', adminBase],
    ['bulkhead_demo', `bulkhead_demo_${randomBytes(4).toString('hex')}`],
  ];
  const substitute = (text: string) => replacements.reduce((t, [from, to]) => t.split(from).join(to), text);
  const captures: Record<string, string> = {};
  const fill = (command: string) =>
    command.replace(/<([a-z][a-z0-9-]*)>/g, (whole, name: string) => captures[name] ?? whole);

  const phases: { name: string; ms: number }[] = [];
  let started = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases.push({ name, ms: now - started });
    console.log(`  ${name.padEnd(64)} ${seconds(now - started)}`);
    started = now;
  };

  let server: ChildProcess | null = null;
  let shell: ReturnType<typeof bashSession> | null = null;
  let transcript = '';
  try {
    await run('git', ['clone', '--quiet', repoRoot, clone]);
    phase('git clone');
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clone, env: cleanEnv(), maxBuffer: 1 << 26 });
    phase('npm ci (from the local npm cache)');

    const readme = readFileSync(join(clone, 'README.md'), 'utf8');
    const all = parseWalkthrough(readme);
    const end = all.findIndex((s) => lastStep.test(s.command));
    if (end < 0) throw new Error(`the README has no step that matches ${lastStep}`);
    const steps: Step[] = all.slice(0, end + 1);
    shell = bashSession(clone, cleanEnv());
    let servers = 0;
    let commands = 0;
    const flush = () => {
      if (commands === 0) return;
      phase(`${commands} README command${commands === 1 ? '' : 's'} (CLI, curl, psql)`);
      commands = 0;
    };
    for (const step of steps) {
      const ran = fill(substitute(step.command));
      const expected = step.expected.map(substitute);
      if (step.kind === 'server') {
        flush();
        const words = ran.replace(/#.*$/, '').trim().split(/\s+/);
        const vars: Record<string, string> = { BULKHEAD_PORT: String(port) };
        while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
          const [name, ...value] = words.shift()!.split('=');
          vars[name!] = value.join('=');
        }
        await stop(server);
        const started = await npmStart(clone, vars, expected);
        server = started.child;
        transcript += started.output;
        Object.assign(captures, started.captures);
        servers++;
        const names = Object.keys(vars).filter((v) => v !== 'BULKHEAD_PORT');
        phase(
          servers === 1
            ? 'first npm start: build, store created, listening, operator token'
            : `npm start again${names.length > 0 ? ` with ${names.join(', ')}` : ''}`,
        );
        continue;
      }
      const { output, code } = await shell.run(ran, 300_000);
      transcript += `$ ${ran}\n${output}\n`;
      const where = `README line ${step.line}: ${step.command}\nprinted:\n${output}`;
      if (code !== 0) throw new Error(`exit ${code} at ${where}`);
      const match = matchOutput(expected, output);
      if (!match.ok) throw new Error(`no line like "# ${match.missing}" at ${where}`);
      Object.assign(captures, match.captures);
      commands++;
    }
    flush();

    const urls = (await shell.run('printf "%s\\n" "$ORDERS_URL" "$GLOBEX_URL"', 300_000)).output
      .trim()
      .split('\n');
    const [acme, globex] = urls as [string, string];
    if (!acme.startsWith('postgres://') || !globex?.startsWith('postgres://'))
      throw new Error(`no database URLs in ORDERS_URL and GLOBEX_URL: ${urls.join(' ')}`);
    const checks = [
      { what: "Acme's URL logs in to Acme's database", url: acme, ok: true },
      { what: "Globex's URL logs in to Globex's database", url: globex, ok: true },
      { what: "Acme's role cannot log in to Globex's database", url: crossed(acme, globex), ok: false },
      { what: "Globex's role cannot log in to Acme's database", url: crossed(globex, acme), ok: false },
    ];
    for (const check of checks) {
      const got = await login(check.url);
      if (got.ok !== check.ok) throw new Error(`isolation: not so that ${check.what}: ${got.said}`);
    }
    phase('isolation checked with psql (4 logins: 2 in, 2 refused)');

    const total = phases.reduce((sum, p) => sum + p.ms, 0);
    console.log(`  ${'total: clone to two isolated domains'.padEnd(64)} ${seconds(total)}`);
    console.log(
      `  ${`against the ${targetSeconds} s target`.padEnd(64)} ${(total / 1000 / targetSeconds).toFixed(2)}× ` +
        `(${total / 1000 <= targetSeconds ? 'within' : 'over'})`,
    );
  } finally {
    await shell?.close();
    await stop(server);
    await dropTenants(transcript);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Drops the tenant roles and databases whose `bh_…` names the run printed in a database URL. */
async function dropTenants(transcript: string): Promise<void> {
  const names = new Set([...transcript.matchAll(/postgres:\/\/(bh_[a-z0-9_]+):/g)].map((m) => m[1]!));
  if (names.size === 0) return;
  await dropEverything(names);
  console.log(`dropped ${names.size} tenant roles and databases: ${[...names].join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
