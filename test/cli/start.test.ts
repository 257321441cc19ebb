// What each `bulkhead` command loads to start. The CLI registers every command up front (for help and
// completion), but the store, the HTTP server and the verifier are loaded by the actions that use them:
// --version, --help and a command that goes through a server with --url load none of them. A static
// import that drags them back in makes every command slow to start again; this test names it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBuilt,
  killAll,
  repoRoot,
  runCli,
  startServer,
  tempDir,
  type CliResult,
  type Server,
} from '../helpers/processes.js';

const token = 'cli-start-operator-token-0123456789abcdef';
const recorder = join(repoRoot, 'test', 'fixtures', 'record-imports.js');

/** The packages a command must not load to start unless it opens the store or serves. */
const heavy = [
  '@electric-sql/pglite',
  'kysely',
  'pg',
  'fastify',
  '@fastify/swagger',
  'ajv',
  'ioredis',
  'amqplib',
];

let dir: { path: string; remove(): void };
let env: Record<string, string>;
let server: Server;
let key: string;
let runs = 0;

/** Runs `bulkhead <args>` and returns its result with the packages (and dist/ files) it loaded. */
async function loaded(
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<{ result: CliResult; packages: Set<string>; files: Set<string> }> {
  const log = join(dir.path, `imports-${++runs}.txt`);
  const result = await runCli(args, {
    env: { ...env, ...extraEnv, NODE_OPTIONS: `--import ${recorder}`, BULKHEAD_RECORD_IMPORTS: log },
  });
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const packages = new Set<string>();
  const files = new Set<string>();
  for (const url of urls) {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (pkg !== null) packages.add(pkg[1]!);
    const dist = /\/dist\/(.+)$/.exec(url);
    if (dist !== null) files.add(dist[1]!);
  }
  return { result, packages, files };
}

function expectLight(packages: Set<string>): void {
  expect(heavy.filter((p) => packages.has(p))).toEqual([]);
}

beforeAll(async () => {
  assertBuilt();
  dir = tempDir('bulkhead-cli-start-');
  env = {
    BULKHEAD_DATA_DIR: join(dir.path, 'data'),
    BULKHEAD_SECRET: 'd4'.repeat(32),
    BULKHEAD_OPERATOR_TOKEN: token,
  };
  expect((await runCli(['domain', 'create', 'start-acme'], { env })).code).toBe(0);
  const issued = await runCli(['key', 'issue', 'start-acme', '--json'], { env });
  expect(issued.code).toBe(0);
  key = (JSON.parse(issued.stdout) as { key: string }).key;
}, 120_000);

afterAll(async () => {
  await killAll();
  dir.remove();
});

describe('bulkhead start', () => {
  it('loads no store, server or verifier for --version, --help, a group help and completion', async () => {
    for (const args of [['--version'], ['--help'], ['domain', '--help'], ['completion', 'bash']]) {
      const { result, packages, files } = await loaded(args);
      expect(result.code, args.join(' ')).toBe(0);
      expectLight(packages);
      expect([...files].filter((f) => /^(store|http|verify\/verify|runtime)/.test(f))).toEqual([]);
    }
  });

  it('--version and --help do not even read the configuration (zod)', async () => {
    for (const args of [['--version'], ['--help']]) {
      const { packages } = await loaded(args);
      expect(packages.has('commander')).toBe(true);
      expect(packages.has('zod'), args.join(' ')).toBe(false);
    }
  });

  it('the completion script still holds every command and its options', async () => {
    const { result } = await loaded(['completion', 'bash']);
    for (const word of [
      'serve',
      'migrate',
      'verify',
      'history',
      'reset-token',
      '--metrics-port',
      '--overlap',
    ])
      expect(result.stdout).toContain(word);
  });

  it('opens the store, and so loads it, on the direct path', async () => {
    const { result, packages } = await loaded(['domain', 'list', '--json']);
    expect(result.code).toBe(0);
    expect(packages.has('@electric-sql/pglite')).toBe(true);
    expect(packages.has('fastify')).toBe(false);
  });

  describe('through a server (BULKHEAD_URL)', () => {
    beforeAll(async () => {
      server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
    }, 120_000);

    it('an operator command loads neither the store nor the server', async () => {
      const { result, packages } = await loaded(['domain', 'list', '--json'], { BULKHEAD_URL: server.url });
      expect(result.code).toBe(0);
      expect((JSON.parse(result.stdout) as { slug: string }[]).map((d) => d.slug)).toContain('start-acme');
      expectLight(packages);
    });

    it('a resource command with a key loads neither the store nor the server', async () => {
      const { result, packages } = await loaded(['resource', 'list', '--json'], {
        BULKHEAD_URL: server.url,
        BULKHEAD_KEY: key,
      });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([]);
      expectLight(packages);
    });

    it('a refused call still exits as before (a configuration error is known without loading it)', async () => {
      const { result, packages } = await loaded(['domain', 'list'], {
        BULKHEAD_URL: server.url,
        BULKHEAD_OPERATOR_TOKEN: '',
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('BULKHEAD_OPERATOR_TOKEN');
      expectLight(packages);
    });
  });
});
