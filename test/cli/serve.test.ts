// `bulkhead serve` as an operator runs it: the built binary in a child process, on a free port, talked to
// over real HTTP. Covers the operator token's life, the public endpoints, log redaction, graceful
// shutdown, the data directory lock and the PostgreSQL store's configuration.
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/backends.js';
import { assertBuilt, killAll, runCli, startServer, tempDir, type Server } from '../helpers/processes.js';

const tokenLine = /^Operator token \(shown once, store it now\): (bho_[A-Za-z0-9_-]{43})$/;
const requestId = /^req_[0-9a-f]{32}$/;

beforeAll(() => assertBuilt());

const dirs: ReturnType<typeof tempDir>[] = [];
function freshDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir.path;
}

/** For describes whose tests each start their own processes: kill them and remove their directories. */
function cleanUpAfterEach(): void {
  afterEach(async () => {
    await killAll();
    for (const dir of dirs.splice(0)) dir.remove();
  });
}

function serve(dataDir: string, env: Record<string, string> = {}, logLevel = 'warn'): Promise<Server> {
  return startServer(['--data-dir', dataDir, 'serve', '--port', '0', '--log-level', logLevel], { env });
}

function get(server: Server, path: string, token?: string): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

function post(server: Server, path: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Sends SIGTERM and resolves with the exit, or rejects if the process outlives `timeoutMs`. */
async function terminate(server: Server, timeoutMs = 10_000) {
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after SIGTERM`)), timeoutMs);
  });
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function tokenLines(server: Server): string[] {
  const { stdout, stderr } = server.output();
  return `${stdout}\n${stderr}`.split('\n').filter((l) => l.startsWith('Operator token'));
}

describe('the generated operator token', () => {
  cleanUpAfterEach();

  it('is printed once on the first start, never again, and keeps working after a restart', async () => {
    const dataDir = freshDir();
    const first = await serve(dataDir);
    expect(first.store).toBe('pglite');
    const lines = tokenLines(first);
    expect(lines).toHaveLength(1);
    const token = tokenLine.exec(lines[0]!)?.[1];
    expect(token, lines[0]).toBeDefined();

    const created = await post(first, '/v1/domains', token!, { slug: 'kept', name: 'Kept' });
    expect(created.status).toBe(201);
    expect(await terminate(first)).toEqual({ code: 0, signal: null });

    const second = await serve(dataDir);
    expect(tokenLines(second)).toEqual([]);
    expect(second.output().stdout).not.toContain('bho_');
    const list = await get(second, '/v1/domains', token);
    expect(list.status).toBe(200);
    const body = (await list.json()) as { items: { slug: string }[] };
    expect(body.items.map((d) => d.slug)).toEqual(['kept']);
  });
});

describe('a server with a configured operator token', () => {
  const operatorToken = `bho_configured_${'t'.repeat(40)}`;
  let dir: ReturnType<typeof tempDir>;
  let server: Server;

  beforeAll(async () => {
    dir = tempDir();
    server = await serve(dir.path, { BULKHEAD_OPERATOR_TOKEN: operatorToken }, 'info');
  });
  afterAll(async () => {
    await killAll();
    dir.remove();
  });

  it('prints no token, accepts the configured one and refuses another with a problem', async () => {
    expect(tokenLines(server)).toEqual([]);
    const ok = await get(server, '/v1/domains', operatorToken);
    expect(ok.status).toBe(200);

    const refused = await get(server, '/v1/domains', `bho_other_${'o'.repeat(40)}`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.headers.get('x-request-id')).toMatch(requestId);
    const problem = (await refused.json()) as { code: string; status: number; requestId: string };
    expect(problem).toMatchObject({ code: 'invalid_credentials', status: 401 });
    expect(problem.requestId).toBe(refused.headers.get('x-request-id'));
  });

  it('answers health, readiness and the OpenAPI document, with a request id on every response', async () => {
    const healthz = await get(server, '/healthz');
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ status: 'ok' });

    const readyz = await get(server, '/readyz');
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({ status: 'ready' });

    const openapi = await get(server, '/openapi.json');
    expect(openapi.status).toBe(200);
    const doc = (await openapi.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/domains');

    const unknown = await get(server, '/no/such/path', operatorToken);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await unknown.json()) as { code: string }).code).toBe('not_found');

    const anonymous = await get(server, '/v1/domains');
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('unauthenticated');

    const ids = [healthz, readyz, openapi, unknown, anonymous].map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(requestId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('logs requests without the operator token or an issued key', async () => {
    const domain = await post(server, '/v1/domains', operatorToken, { slug: 'logged', name: 'Logged' });
    expect(domain.status).toBe(201);
    const { id } = (await domain.json()) as { id: string };
    const issued = await post(server, `/v1/domains/${id}/keys`, operatorToken, {});
    expect(issued.status).toBe(201);
    const { key } = (await issued.json()) as { key: string };
    expect(key).toMatch(/^bhk_/);

    const whoami = await get(server, '/v1/whoami', key);
    expect(whoami.status).toBe(200);
    const tampered = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const refused = await get(server, '/v1/whoami', tampered);
    expect(refused.status).toBe(401);
    // Wait for the last request's own log line, so everything before it has been written.
    await server.waitFor(new RegExp(`"reqId":"${refused.headers.get('x-request-id')}".*request completed`));

    const { stdout, stderr } = server.output();
    const logs = `${stdout}\n${stderr}`;
    expect(logs).toContain('"msg":"incoming request"'); // the logs are there to look at
    for (const secret of [operatorToken, key, tampered, key.slice(4, 47)]) {
      expect(logs).not.toContain(secret);
    }
  });
});

describe('graceful shutdown', () => {
  cleanUpAfterEach();

  it('finishes a request in flight, exits 0 on SIGTERM and releases the data directory', async () => {
    const token = `bho_shutdown_${'s'.repeat(40)}`;
    const dataDir = freshDir();
    const server = await serve(dataDir, { BULKHEAD_OPERATOR_TOKEN: token }, 'info');
    const lock = join(dataDir, 'bulkhead.lock');
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(server.child.pid));

    // Send the headers and half the body, so the request is in flight when the signal arrives.
    const { hostname, port } = new URL(server.url);
    const body = JSON.stringify({ slug: 'inflight', name: 'In flight' });
    const socket = connect(Number(port), hostname);
    let response = '';
    socket.setEncoding('utf8').on('data', (s: string) => (response += s));
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('close', () => resolve());
      socket.once('error', reject);
    });
    socket.write(
      `POST /v1/domains HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
        body.slice(0, 10),
    );
    await server.waitFor(/"msg":"incoming request"/);

    server.child.kill('SIGTERM');
    await server.waitFor(/"msg":"shutting down"/);
    socket.write(body.slice(10));
    await ended;
    expect(response).toMatch(/^HTTP\/1\.1 201 /);
    expect(response).toContain('"slug":"inflight"');

    const exit = await Promise.race([
      server.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running 10 s after SIGTERM'), 10_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(lock)).toBe(false);
  });
});

describe('the data directory lock', () => {
  cleanUpAfterEach();

  it('keeps a second server out while the first runs, and the first keeps serving', async () => {
    const dataDir = freshDir();
    const first = await serve(dataDir);
    const second = await runCli(['--data-dir', dataDir, 'serve', '--port', '0']);
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.stdout).not.toContain('Bulkhead listening');
    expect(second.stderr).toMatch(/data directory .* is in use by process \d+/);
    expect(second.stderr).toContain(String(first.child.pid));
    // …and what to do about it.
    expect(second.stderr).toMatch(/Stop it first .*--data-dir or BULKHEAD_DATA_DIR/);
    const reset = await runCli(['--data-dir', dataDir, 'operator', 'reset-token']);
    expect(reset.code).toBe(1);
    expect(reset.stdout).toBe('');
    expect(reset.stderr).toMatch(
      /is in use by process \d+ .*Stop it, run "bulkhead operator reset-token" again/,
    );

    expect(readFileSync(join(dataDir, 'bulkhead.lock'), 'utf8').trim()).toBe(String(first.child.pid));
    expect((await get(first, '/readyz')).status).toBe(200);
  });
});

describe('serve on PostgreSQL', () => {
  cleanUpAfterEach();

  let database: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('refuses to start without BULKHEAD_SECRET, in one line', async () => {
    const result = await runCli(['serve', '--port', '0'], {
      env: { BULKHEAD_DATABASE_URL: database.url },
      cwd: freshDir(),
    });
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 2 });
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^bulkhead: invalid configuration: .*BULKHEAD_SECRET/);
  });

  it('starts and serves with BULKHEAD_SECRET set', async () => {
    const cwd = freshDir();
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], {
      env: { BULKHEAD_DATABASE_URL: database.url, BULKHEAD_SECRET: 'f0'.repeat(32) },
      cwd,
    });
    expect(server.store).toBe('postgres');
    const lines = tokenLines(server);
    expect(lines).toHaveLength(1);
    const token = tokenLine.exec(lines[0]!)![1]!;

    expect((await get(server, '/readyz')).status).toBe(200);
    const created = await post(server, '/v1/domains', token, { slug: 'on-postgres', name: 'On Postgres' });
    expect(created.status).toBe(201);
    const list = await get(server, '/v1/domains', token);
    expect(((await list.json()) as { items: { slug: string }[] }).items.map((d) => d.slug)).toEqual([
      'on-postgres',
    ]);
    expect(existsSync(join(cwd, '.bulkhead', 'pgdata'))).toBe(false); // no embedded store on the side
    expect(await terminate(server)).toEqual({ code: 0, signal: null });
  });
});

/** The banner's line for one backend: its name, its state and where it points. */
function backendLine(server: Server, backend: string): string | undefined {
  return server
    .output()
    .stdout.split('\n')
    .find((l) => l.startsWith(`  ${backend} `));
}

describe('the start banner', () => {
  cleanUpAfterEach();

  it('lists every backend with where it points and its health, and prints the token last', async () => {
    const dataDir = freshDir();
    const server = await serve(dataDir, {}, 'info');
    expect(backendLine(server, 'store')).toMatch(new RegExp(`^  store +up +pglite in ${dataDir}$`));
    expect(backendLine(server, 'postgres')).toMatch(/^ {2}postgres +up +embedded PGlite in .*\/postgres$/);
    expect(backendLine(server, 'storage')).toMatch(/^ {2}storage +up +.*\/storage$/);
    expect(backendLine(server, 'redis')).toMatch(
      /^ {2}redis +off +not configured \(set BULKHEAD_REDIS_URL\)$/,
    );
    expect(backendLine(server, 'rabbitmq')).toMatch(/off +not configured \(set BULKHEAD_RABBITMQ_URL\)$/);
    expect(backendLine(server, 'kubernetes')).toMatch(/off +not configured \(set BULKHEAD_KUBECONFIG\)$/);

    // The start's log lines come first; the token is the last thing the start prints.
    const lines = server.output().stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(tokenLine);
    const listening = lines.findIndex((l) => l.includes('"msg":"Server listening'));
    const reconciled = lines.findIndex((l) => l.includes('"msg":"reconciled"'));
    expect(listening).toBeGreaterThanOrEqual(0);
    expect(reconciled).toBeGreaterThanOrEqual(0);
    expect(lines.findIndex((l) => tokenLine.test(l))).toBeGreaterThan(Math.max(listening, reconciled));
  });

  it('warns, naming the variable, about a backend that does not answer or cannot be built, and serves', async () => {
    const server = await serve(freshDir(), {
      BULKHEAD_REDIS_URL: 'redis://127.0.0.1:1',
      BULKHEAD_KUBECONFIG: join(freshDir(), 'no-such-kubeconfig'),
    });
    expect(backendLine(server, 'redis')).toMatch(/^ {2}redis +down +127\.0\.0\.1:1$/);
    expect(backendLine(server, 'kubernetes')).toMatch(
      /^ {2}kubernetes +misconfigured +.*no-such-kubeconfig$/,
    );
    const { stdout } = server.output();
    expect(stdout).toMatch(
      /^warning: redis at 127\.0\.0\.1:1 did not answer its health check: .*ECONNREFUSED.*check BULKHEAD_REDIS_URL/m,
    );
    expect(stdout).toMatch(
      /^warning: kubernetes is misconfigured: .*could not be read.*; fix BULKHEAD_KUBECONFIG/m,
    );
    expect(backendLine(server, 'postgres')).toMatch(/ up /);
    expect((await get(server, '/readyz')).status).toBe(200);
  });

  it('stops without the store, naming its variable', async () => {
    const result = await runCli(['serve', '--port', '0'], {
      env: {
        BULKHEAD_DATABASE_URL: 'postgres://postgres:pw@127.0.0.1:1/postgres',
        BULKHEAD_SECRET: 'f0'.repeat(32),
      },
      cwd: freshDir(),
    });
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('Bulkhead listening');
    expect(result.stderr).toMatch(
      /^bulkhead: unavailable: the store at 127\.0\.0\.1:1\/postgres did not answer: .*ECONNREFUSED.*; check BULKHEAD_DATABASE_URL$/m,
    );
    expect(result.stderr).not.toContain(':pw@');
  });
});

describe('serve on PostgreSQL through its Unix socket', () => {
  cleanUpAfterEach();

  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('takes socket URLs for the store and the provider, and hands out the socket directory', async () => {
    const name = new URL(database.url).pathname.slice(1);
    const server = await startServer(['serve', '--port', '0', '--log-level', 'warn'], {
      env: {
        // libpq's two ways of naming a socket directory: as a parameter, and percent-encoded as the host.
        BULKHEAD_DATABASE_URL: `postgres://postgres@/${name}?host=/var/run/postgresql`,
        BULKHEAD_POSTGRES_URL: 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres',
        // The socket trusts every local login on this machine (pg_hba.conf), so the provider must be told.
        BULKHEAD_POSTGRES_ALLOW_PASSWORDLESS_LOGIN: 'true',
        BULKHEAD_SECRET: 'e1'.repeat(32),
      },
      cwd: freshDir(),
    });
    expect(server.store).toBe('postgres');
    expect(backendLine(server, 'store')).toMatch(
      new RegExp(`^  store +up +/var/run/postgresql:5432/${name} \\(socket\\)$`),
    );
    expect(backendLine(server, 'postgres')).toMatch(
      /^ {2}postgres +up +\/var\/run\/postgresql:5432\/postgres \(socket\)$/,
    );
    const token = tokenLine.exec(tokenLines(server)[0]!)![1]!;

    const domain = await post(server, '/v1/domains', token, {
      slug: `socket-${process.pid}`,
      name: 'Socket',
    });
    expect(domain.status).toBe(201);
    const { id } = (await domain.json()) as { id: string };
    const issued = await post(server, `/v1/domains/${id}/keys`, token, {});
    const { key } = (await issued.json()) as { key: string };
    const created = await post(server, `/v1/domains/${id}/resources`, key, { kind: 'postgres', name: 'db' });
    const resource = (await created.json()) as { id: string; status: string };
    expect(created.status, JSON.stringify(resource)).toBe(201);
    const credentials = (await (
      await get(server, `/v1/domains/${id}/resources/${resource.id}/credentials`, key)
    ).json()) as { host: string; port: number; url: string };
    expect(credentials).toMatchObject({ host: '/var/run/postgresql', port: 5432 });
    expect(credentials.url).toMatch(/@%2Fvar%2Frun%2Fpostgresql:5432\//);

    const removed = await fetch(`${server.url}/v1/domains/${id}/resources/${resource.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(removed.status).toBeLessThan(300);
  });
});
