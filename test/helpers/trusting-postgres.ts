// A throwaway PostgreSQL server that trusts every connection, as a careless development setup does, to
// show what the provider does there; or one that asks every role but the superuser for its password. Made with the test server's own initdb and pg_ctl, run as the
// `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { testPostgresUrl } from './backends.js';
import { freePort } from './processes.js';

const run = promisify(execFile);

export interface TrustingPostgres {
  /** The superuser's URL, over TCP on 127.0.0.1. */
  readonly url: string;
  /**
   * Fixes the server as an operator would: from now on every role but the superuser gives its password
   * over TCP (pg_hba.conf rewritten, then reloaded).
   */
  requirePasswords(): Promise<void>;
  stop(): Promise<void>;
}

const passwordRules = [
  'local all all trust',
  'host all postgres 127.0.0.1/32 trust',
  'host all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n');

async function binDir(): Promise<string> {
  const client = new pg.Client({ connectionString: testPostgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ setting: string }>(
      "SELECT setting FROM pg_config WHERE name = 'BINDIR'",
    );
    return rows[0]!.setting;
  } finally {
    await client.end();
  }
}

/** A throwaway server that trusts every connection. */
export const startTrustingPostgres = (): Promise<TrustingPostgres> => startPostgres('trust');

/**
 * A throwaway server where every role but the superuser gives its password over TCP, as the provider
 * requires, whatever the shared test server's pg_hba.conf says.
 */
export const startPasswordPostgres = (): Promise<TrustingPostgres> => startPostgres('password');

async function startPostgres(auth: 'trust' | 'password'): Promise<TrustingPostgres> {
  const bin = await binDir();
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-trusting-pg-'));
  const asRoot = process.getuid?.() === 0;
  const as = async (file: string, args: string[]) => {
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', join(bin, file), ...args]);
    else await run(join(bin, file), args);
  };
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  if (auth === 'password') {
    // Written over the file initdb made, which keeps its owner.
    writeFileSync(join(data, 'pg_hba.conf'), passwordRules);
  }
  await as('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    'start',
  ]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    async requirePasswords() {
      writeFileSync(join(data, 'pg_hba.conf'), passwordRules);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('SELECT pg_reload_conf()');
      } finally {
        await client.end();
      }
    },
    async stop() {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
