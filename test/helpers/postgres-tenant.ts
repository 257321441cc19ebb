// What the PostgreSQL provider suites need besides the provider: the real `psql` binary run with a
// tenant's credentials (the password only in PGPASSWORD, never in argv), an admin connection that looks
// at the server's catalogs directly, and a cleanup that removes every role, database and schema by name.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import pg from 'pg';
import type { Credentials } from '../../src/providers/provider.js';
import { testPostgresUrl } from './backends.js';

export const psqlPath = '/usr/bin/psql';

export interface PsqlTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface PsqlResult {
  /** psql's exit code: 0 ok, 1 an SQL error (ON_ERROR_STOP), 2 no connection or a lost one. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A tenant's credentials as psql needs them, optionally aimed at another database. */
export function targetOf(credentials: Credentials, database?: string): PsqlTarget {
  const { host, port, user, password } = credentials;
  if (
    typeof host !== 'string' ||
    typeof port !== 'number' ||
    typeof user !== 'string' ||
    typeof password !== 'string'
  ) {
    throw new Error('not server credentials');
  }
  return { host, port, user, password, database: database ?? String(credentials['database']) };
}

function psqlArgs(target: PsqlTarget): string[] {
  return [
    '-X',
    // Never prompt for a password: a login without one must fail, not wait.
    '-w',
    // Only results on stdout (no command tags); psql 15 prints every statement's result of one -c.
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    // Errors then carry their SQLSTATE, which the tests assert.
    '-v',
    'VERBOSITY=verbose',
    '-h',
    target.host,
    '-p',
    String(target.port),
    '-U',
    target.user,
    '-d',
    target.database,
  ];
}

function psqlEnv(target: PsqlTarget): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PGPASSWORD: target.password,
    PGCONNECT_TIMEOUT: '5',
  };
}

/** Runs `sql` with `psql -Atc` as the target's user. Never rejects for an SQL or connection error. */
export function psql(target: PsqlTarget, sql: string): Promise<PsqlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      psqlPath,
      [...psqlArgs(target), '-Atc', sql],
      { env: psqlEnv(target), timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : error.code;
        // A string code (ENOENT …) or none at all (killed by the timeout): psql itself did not run.
        if (typeof code === 'number') resolve({ code, stdout: stdout.trim(), stderr });
        else reject(new Error(`psql did not run: ${String(code)} ${stderr}`, { cause: error }));
      },
    );
  });
}

/** An interactive psql kept open: statements go in on stdin, one at a time. */
export interface PsqlSession {
  /** Sends `sql` (end it with a semicolon) and resolves with its output, or null when psql ended first. */
  run(sql: string): Promise<string | null>;
  readonly exited: Promise<number | null>;
  close(): void;
}

export async function openPsqlSession(target: PsqlTarget): Promise<PsqlSession> {
  const child: ChildProcessWithoutNullStreams = spawn(psqlPath, [...psqlArgs(target), '-At'], {
    env: psqlEnv(target),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let n = 0;
  const session: PsqlSession = {
    async run(sql) {
      const done = `__bulkhead_done_${++n}__`;
      const from = stdout.length;
      // psql buffers a piped stdout until it exits; running a shell command makes it flush first.
      child.stdin.write(`${sql}\n\\echo ${done}\n\\! true\n`);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const end = stdout.indexOf(done, from);
        if (end >= 0) return stdout.slice(from, end).trim();
        if (child.exitCode !== null || child.signalCode !== null) return null;
        if (Date.now() > deadline) throw new Error(`psql did not answer: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exited,
    close() {
      if (child.exitCode === null) child.kill();
    },
  };
  if ((await session.run('SELECT 1;')) !== '1') throw new Error(`psql session did not start: ${stderr}`);
  return session;
}

/** Runs one statement as the test server's admin, in `database` (default: the admin URL's). */
export async function adminQuery<R extends object>(
  sql: string,
  values: unknown[] = [],
  database?: string,
): Promise<R[]> {
  const url = new URL(testPostgresUrl);
  if (database !== undefined) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<R & pg.QueryResultRow>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

const quote = (name: string) => pg.escapeIdentifier(name);

/**
 * Removes roles, databases and schemas by name, whatever state a failed test left them in, without
 * going through the provider under test. Schemas are looked for in `sharedDatabase` when given, which
 * is then dropped too.
 */
export async function dropEverything(names: Iterable<string>, sharedDatabase?: string): Promise<void> {
  const all = [...names];
  const sharedExists =
    sharedDatabase !== undefined &&
    (await adminQuery('SELECT FROM pg_database WHERE datname = $1', [sharedDatabase])).length > 0;
  for (const name of all) {
    await adminQuery(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1`, [
      name,
    ]);
    await adminQuery(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
    if (sharedExists) await adminQuery(`DROP SCHEMA IF EXISTS ${quote(name)} CASCADE`, [], sharedDatabase);
    const role = await adminQuery<{ oid: number }>('SELECT oid FROM pg_roles WHERE rolname = $1', [name]);
    if (role.length === 0) continue;
    const databases = await adminQuery<{ datname: string }>(
      `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.refobjid = $1 AND d.datallowconn`,
      [role[0]!.oid],
    );
    for (const { datname } of databases) await adminQuery(`DROP OWNED BY ${quote(name)}`, [], datname);
    await adminQuery(`DROP OWNED BY ${quote(name)}`);
    await adminQuery(`DROP ROLE IF EXISTS ${quote(name)}`);
  }
  if (sharedExists) await adminQuery(`DROP DATABASE IF EXISTS ${quote(sharedDatabase)} WITH (FORCE)`);
}
