// The built `bulkhead` CLI as a user runs it: a real child process on a real store (an embedded PGlite
// data directory, or a PostgreSQL database), checked by exit code, standard output and standard error.
// The tests in each block run in order and build on one another's state, like a session at a terminal.
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/backends.js';
import {
  assertBuilt,
  killAll,
  runCli,
  startServer,
  tempDir,
  type CliResult,
  type Server,
} from '../helpers/processes.js';

const secret = 'a1'.repeat(32);
const cliActor = `cli:${userInfo().username}`;
const keyShape = /^bhk_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/;
const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(() => assertBuilt());
afterAll(() => killAll());

/** Asserts the exit code, showing the output in the failure message when it differs. */
function expectExit(result: CliResult, code: number): void {
  expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toMatchObject({ code });
}

function json<T>(result: CliResult): T {
  expectExit(result, 0);
  return JSON.parse(result.stdout) as T;
}

interface Domain {
  id: string;
  slug: string;
  name: string;
  status: string;
  suspendedAt: string | null;
  deletedAt: string | null;
}
interface Key {
  id: string;
  domainId: string;
  key?: string;
  prefix: string;
  expiresAt: string | null;
  revokedAt: string | null;
  replacesKeyId: string | null;
}
interface Event {
  seq: number;
  id: string;
  domainId: string | null;
  actor: string;
  action: string;
  outcome: string;
  hash: string;
}

/** Just enough of `pg.Client` and `PGlite` to tamper with the store behind the CLI's back. */
interface Sql {
  query(text: string): Promise<unknown>;
  close(): Promise<void>;
}

interface Mode {
  readonly name: string;
  open(): Promise<{
    /** Global flags and environment that point the CLI at this store. */
    readonly args: string[];
    readonly env: Record<string, string>;
    /** Connects to the store directly; only while no CLI process has it open. */
    sql(): Promise<Sql>;
    close(): Promise<void>;
  }>;
}

const modes: Mode[] = [
  {
    name: 'pglite',
    open() {
      const dir = tempDir();
      return Promise.resolve({
        args: ['--data-dir', dir.path],
        env: {},
        async sql() {
          const db = await PGlite.create(join(dir.path, 'pgdata'));
          return { query: (text) => db.exec(text), close: () => db.close() };
        },
        close: () => Promise.resolve(dir.remove()),
      });
    },
  },
  {
    name: 'postgres',
    async open() {
      const database = await createTestDatabase();
      return {
        args: [],
        env: { BULKHEAD_DATABASE_URL: database.url, BULKHEAD_SECRET: secret },
        async sql() {
          const client = new pg.Client({ connectionString: database.url });
          await client.connect();
          return { query: (text) => client.query(text), close: () => client.end() };
        },
        close: () => database.drop(),
      };
    },
  },
];

// The two stores run side by side, which saves a third of the file's time on two cores; within a store
// the steps run in order. No test uses snapshots or expect.assertions, so the global expect is safe.
describe.concurrent.each(modes)('bulkhead CLI on $name', (mode) => {
  let store: Awaited<ReturnType<Mode['open']>>;
  const cli = (...args: string[]) => runCli([...store.args, ...args], { env: store.env });
  let acme: Domain;
  let beta: Domain;
  let first: Key;
  let second: Key;
  let events: Event[];

  beforeAll(async () => {
    store = await mode.open();
  });
  afterAll(() => store.close());

  describe.sequential('step by step', () => {
    it('creates a domain', async () => {
      const result = await cli('domain', 'create', 'acme', '--name', 'Acme Inc');
      expectExit(result, 0);
      expect(result.stdout).toMatch(/^ID\s+SLUG\s+NAME\s+STATUS\s+CREATEDAT\n/);
      expect(result.stdout).toMatch(/dom_[0-9a-z]{26}\s+acme\s+Acme Inc\s+active\s/);
    });

    it('refuses a slug that is taken, in any case, with exit 1', async () => {
      const result = await cli('domain', 'create', 'Acme');
      expectExit(result, 1);
      expect(result.stderr).toContain('slug_taken');
      expect(result.stdout).toBe('');
    });

    it('refuses a confusable slug as a usage error (exit 2)', async () => {
      const result = await cli('domain', 'create', '\u0430cme'); // a Cyrillic "а" first
      expectExit(result, 2);
      expect(result.stderr).toContain('slug_confusable');
    });

    it('exits 2 on usage and configuration errors without touching the store', async () => {
      const unknown = await cli('frobnicate');
      expectExit(unknown, 2);
      expect(unknown.stderr).toContain("unknown command 'frobnicate'");

      const missing = await cli('key', 'issue');
      expectExit(missing, 2);
      expect(missing.stderr).toContain("missing required argument 'domain'");

      const scopes = await cli('key', 'issue', 'acme', '--scopes', 'nope');
      expectExit(scopes, 2);
      expect(scopes.stderr).toContain('unknown scope "nope"');

      for (const args of [
        ['audit', 'list', '--limit', 'abc'],
        ['audit', 'list', '--after', '-1'],
        ['domain', 'list', '--limit', '0'],
        ['domain', 'list', '--status', 'bogus'],
        ['key', 'rotate', 'acme', 'key_x', '--overlap', '1.5'],
      ]) {
        const bad = await cli(...args);
        expectExit(bad, 2);
        expect(bad.stderr).toMatch(/argument '.*' is invalid/);
      }

      const port = await runCli([...store.args, 'serve'], {
        env: { ...store.env, BULKHEAD_PORT: 'notaport' },
      });
      expectExit(port, 2);
      expect(port.stdout).toBe('');
      const lines = port.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^bulkhead: invalid configuration: BULKHEAD_PORT /);
    });

    it('lists the domain as JSON (and nothing the refused commands tried to create)', async () => {
      const items = json<Domain[]>(await cli('domain', 'list', '--json'));
      expect(items).toHaveLength(1);
      acme = items[0]!;
      expect(acme).toMatchObject({ slug: 'acme', name: 'Acme Inc', status: 'active' });
      expect(acme.id).toMatch(/^dom_[0-9a-z]{26}$/);
    });

    it('shows a domain by slug and by id', async () => {
      const bySlug = json<Domain>(await cli('domain', 'show', 'acme', '--json'));
      const byId = json<Domain>(await cli('domain', 'show', acme.id, '--json'));
      expect(bySlug).toEqual(acme);
      expect(byId).toEqual(acme);
    });

    it('suspends and resumes a domain', async () => {
      const suspended = json<Domain>(await cli('domain', 'suspend', 'acme', '--json'));
      expect(suspended).toMatchObject({ id: acme.id, status: 'suspended' });
      expect(suspended.suspendedAt).toMatch(isoTime);
      const resumed = json<Domain>(await cli('domain', 'resume', acme.id, '--json'));
      expect(resumed).toMatchObject({ id: acme.id, status: 'active', suspendedAt: null });
    });

    it('deletes a domain', async () => {
      beta = json<Domain>(await cli('domain', 'create', 'beta', '--json'));
      const deleted = json<Domain>(await cli('domain', 'delete', 'beta', '--json'));
      expect(deleted).toMatchObject({ id: beta.id, status: 'deleted' });
      expect(deleted.deletedAt).toMatch(isoTime);
      const all = json<Domain[]>(await cli('domain', 'list', '--all', '--json'));
      expect(all.map((d) => [d.slug, d.status]).sort()).toEqual([
        ['acme', 'active'],
        ['beta', 'deleted'],
      ]);
    });

    it('issues a key and prints its secret', async () => {
      first = json<Key>(await cli('key', 'issue', 'acme', '--json'));
      expect(first.key).toMatch(keyShape);
      expect(first).toMatchObject({ domainId: acme.id, revokedAt: null, expiresAt: null });
      expect(first.key!.startsWith(first.prefix)).toBe(true);
    });

    it('rotates a key: a new secret, and the old key expires after the overlap', async () => {
      const before = Date.now();
      const result = await cli('key', 'rotate', 'acme', first.id, '--overlap', '600');
      expectExit(result, 0);
      const replaced = /^key (key_[0-9a-z]{26}) replaces (key_[0-9a-z]{26}), which expires at (\S+)$/m.exec(
        result.stdout,
      );
      const shown = /^secret \(shown once, store it now\): (\S+)$/m.exec(result.stdout);
      expect(replaced, result.stdout).not.toBeNull();
      expect(shown, result.stdout).not.toBeNull();
      expect(replaced![2]).toBe(first.id);
      expect(replaced![1]).not.toBe(first.id);
      const expiresAt = Date.parse(replaced![3]!);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 600_000 - 1000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000 + 1000);
      expect(shown![1]).toMatch(keyShape);
      expect(shown![1]).not.toBe(first.key);
      second = { ...first, id: replaced![1]!, key: shown![1]!, replacesKeyId: first.id };
      first = { ...first, expiresAt: new Date(expiresAt).toISOString() };
    });

    it('revokes a key', async () => {
      const result = await cli('key', 'revoke', 'acme', second.id);
      expectExit(result, 0);
      expect(result.stdout).toMatch(new RegExp(`^revoked ${second.id} at \\S+Z\\n$`));
    });

    it('lists keys with their state and never their secrets', async () => {
      const result = await cli('key', 'list', 'acme', '--json');
      const items = json<Key[]>(result);
      for (const k of [first, second]) expect(result.stdout).not.toContain(k.key);
      expect(items.map((k) => k.id).sort()).toEqual([first.id, second.id].sort());
      const old = items.find((k) => k.id === first.id)!;
      const successor = items.find((k) => k.id === second.id)!;
      expect(old).toMatchObject({ expiresAt: first.expiresAt, revokedAt: null });
      expect(successor).toMatchObject({ replacesKeyId: first.id });
      expect(successor.revokedAt).toMatch(isoTime);
      expect(items.every((k) => !('key' in k))).toBe(true);

      const table = await cli('key', 'list', 'acme');
      expectExit(table, 0);
      for (const k of [first, second]) expect(table.stdout).not.toContain(k.key);
    });

    it('lists the audit trail of every change, by the CLI user', async () => {
      events = json<Event[]>(await cli('audit', 'list', '--json'));
      expect(events.map((e) => [e.seq, e.action, e.domainId])).toEqual([
        [1, 'domain.create', acme.id],
        [2, 'domain.suspend', acme.id],
        [3, 'domain.resume', acme.id],
        [4, 'domain.create', beta.id],
        [5, 'domain.delete', beta.id],
        [6, 'key.issue', acme.id],
        [7, 'key.rotate', acme.id],
        [8, 'key.revoke', acme.id],
      ]);
      expect(new Set(events.map((e) => e.actor))).toEqual(new Set([cliActor]));
      expect(new Set(events.map((e) => e.outcome))).toEqual(new Set(['success']));
    });

    it('filters the audit trail by domain slug', async () => {
      const items = json<Event[]>(await cli('audit', 'list', '--domain', 'acme', '--json'));
      expect(items.map((e) => e.seq)).toEqual([1, 2, 3, 6, 7, 8]);
      expect(items.every((e) => e.domainId === acme.id)).toBe(true);
    });

    it('exports the audit trail as JSON lines, to stdout or a file, with no secret in it', async () => {
      const result = await cli('audit', 'export');
      expectExit(result, 0);
      const lines = result.stdout.trimEnd().split('\n');
      const exported = lines.map((line) => JSON.parse(line) as Event);
      expect(exported).toEqual(events);
      for (const k of [first, second]) expect(result.stdout).not.toContain(k.key);

      const dir = tempDir();
      try {
        const file = join(dir.path, 'audit.jsonl');
        const written = await cli('audit', 'export', '--output', file);
        expectExit(written, 0);
        expect(written.stdout).toBe('');
        expect(written.stderr).toContain(`wrote ${events.length} events to ${file}`);
        expect(readFileSync(file, 'utf8')).toBe(result.stdout);
        expect(statSync(file).mode & 0o777).toBe(0o600);
      } finally {
        dir.remove();
      }
    });

    it('verifies an intact audit chain', async () => {
      const result = await cli('audit', 'verify');
      expectExit(result, 0);
      expect(result.stdout.trim()).toBe(`audit chain intact: 8 events, head 8 ${events.at(-1)!.hash}`);
    });

    describe('names the first broken link when the store is tampered with', () => {
      /** Runs SQL on the store directly (no CLI process is running), then `audit verify`. */
      async function tamperAndVerify(...statements: string[]): Promise<CliResult> {
        const sql = await store.sql();
        try {
          for (const s of statements) await sql.query(s);
        } finally {
          await sql.close();
        }
        return cli('audit', 'verify');
      }

      beforeAll(async () => {
        const sql = await store.sql();
        try {
          await sql.query('CREATE TABLE audit_original AS SELECT * FROM audit_events');
        } finally {
          await sql.close();
        }
      });

      // Each case starts from the intact chain again.
      afterEach(async () => {
        const sql = await store.sql();
        try {
          await sql.query('DELETE FROM audit_events');
          await sql.query('INSERT INTO audit_events SELECT * FROM audit_original');
        } finally {
          await sql.close();
        }
      });

      it('an edited event: hash_mismatch at that event', async () => {
        const result = await tamperAndVerify(`UPDATE audit_events SET outcome = 'denied' WHERE seq = 2`);
        expectExit(result, 1);
        expect(result.stderr).toContain(
          `audit chain broken at event 2 (${events[1]!.id}): hash_mismatch; 1 events before it are intact`,
        );
      });

      it("a deleted middle event: prev_hash_mismatch at the next event of its domain's chain", async () => {
        // Events 4 and 5 are the second domain's chain; the rest are acme's.
        const result = await tamperAndVerify('DELETE FROM audit_events WHERE seq = 4');
        expectExit(result, 1);
        expect(result.stderr).toContain(
          `audit chain broken at event 5 (${events[4]!.id}): prev_hash_mismatch; 3 events before it are intact`,
        );
      });

      it('two events swapped: broken at the first of them', async () => {
        const result = await tamperAndVerify(
          'UPDATE audit_events SET seq = 1000 WHERE seq = 3',
          'UPDATE audit_events SET seq = 3 WHERE seq = 6',
          'UPDATE audit_events SET seq = 6 WHERE seq = 1000',
        );
        expectExit(result, 1);
        expect(result.stderr).toContain(
          `audit chain broken at event 3 (${events[5]!.id}): prev_hash_mismatch; 2 events before it are intact`,
        );
      });

      it('the newest event deleted: head_mismatch', async () => {
        const result = await tamperAndVerify('DELETE FROM audit_events WHERE seq = 8');
        expectExit(result, 1);
        expect(result.stderr).toContain(
          'audit chain broken at event 8: head_mismatch; 7 events before it are intact',
        );
      });

      it('the restored chain verifies again', async () => {
        const result = await tamperAndVerify();
        expectExit(result, 0);
        expect(result.stdout).toContain('audit chain intact: 8 events');
      });
    });
  });
});

describe('bulkhead CLI while a server holds the data directory', () => {
  const operatorToken = `bho_cli_test_${'x'.repeat(40)}`;
  let dir: ReturnType<typeof tempDir>;
  let server: Server;

  beforeAll(async () => {
    dir = tempDir();
    server = await startServer(['--data-dir', dir.path, 'serve', '--port', '0', '--log-level', 'warn'], {
      env: { BULKHEAD_OPERATOR_TOKEN: operatorToken },
    });
  });
  afterAll(async () => {
    await killAll();
    dir.remove();
  });

  it('refuses to open the store directly and points at --url', async () => {
    const result = await runCli(['--data-dir', dir.path, 'domain', 'create', 'viaurl']);
    expectExit(result, 1);
    expect(result.stderr).toContain('--url');
    expect(result.stderr).toContain(`in use by process ${server.child.pid}`);
  });

  it('goes through the server with --url and the operator token', async () => {
    const env = { BULKHEAD_OPERATOR_TOKEN: operatorToken };
    const created = json<Domain>(
      await runCli(['--url', server.url, 'domain', 'create', 'viaurl', '--json'], { env }),
    );
    expect(created).toMatchObject({ slug: 'viaurl', status: 'active' });

    const again = await runCli(['--url', server.url, 'domain', 'create', 'viaurl'], { env });
    expectExit(again, 1);
    expect(again.stderr).toContain('slug_taken');

    const events = json<Event[]>(await runCli(['--url', server.url, 'audit', 'list', '--json'], { env }));
    expect(events.filter((e) => e.action === 'domain.create')).toEqual([
      expect.objectContaining({ actor: 'operator', domainId: created.id, outcome: 'success' }),
    ]);
  });

  it("sets a user's password from standard input, never from an argument, and ends its sessions", async () => {
    const env = { BULKHEAD_OPERATOR_TOKEN: operatorToken };
    const operator = { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' };
    const post = (path: string, body: unknown, headers: Record<string, string> = operator) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const domain = json<Domain>(
      await runCli(['--url', server.url, 'domain', 'create', 'pwcli', '--json'], { env }),
    );
    const oldPassword = 'correct horse battery staple';
    const newPassword = 'a new horse battery staple';
    const created = await post(`/v1/domains/${domain.id}/principals`, {
      kind: 'user',
      email: 'ada@example.com',
      password: oldPassword,
    });
    const user = (await created.json()) as { id: string };
    const login = (password: string) =>
      post(
        '/v1/auth/token',
        { grant_type: 'password', domain: 'pwcli', username: 'ada@example.com', password },
        { 'content-type': 'application/json' },
      );
    const before = ((await (await login(oldPassword)).json()) as { access_token: string }).access_token;
    const args = ['--url', server.url, 'principal', 'password', user.id, '--domain', 'pwcli'];

    const noFlag = await runCli(args, { env, input: `${newPassword}\n` });
    expectExit(noFlag, 2);
    expect(noFlag.stderr).toContain('--password-stdin');
    const weak = await runCli([...args, '--password-stdin'], { env, input: 'short\n' });
    expectExit(weak, 2);
    expect(weak.stderr).toContain('weak_password');
    expect((await login(oldPassword)).status).toBe(200);

    const changed = json<{ id: string; status: string }>(
      await runCli([...args, '--password-stdin', '--json'], { env, input: `${newPassword}\n` }),
    );
    expect(changed).toMatchObject({ id: user.id, status: 'active' });
    expect((await login(oldPassword)).status).toBe(400);
    expect((await login(newPassword)).status).toBe(200);
    const who = await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${before}` } });
    expect(who.status).toBe(401);
  });

  it('fails with invalid_credentials on a wrong operator token, and without one says what to set', async () => {
    const wrong = await runCli(['--url', server.url, 'domain', 'list'], {
      env: { BULKHEAD_OPERATOR_TOKEN: `bho_wrong_${'y'.repeat(40)}` },
    });
    expectExit(wrong, 1);
    expect(wrong.stderr).toContain('invalid_credentials');
    expect(wrong.stdout).toBe('');

    const none = await runCli(['--url', server.url, 'domain', 'list']);
    expectExit(none, 2); // configuration, like a token too short
    expect(none.stderr).toContain('BULKHEAD_OPERATOR_TOKEN');
  });
});
