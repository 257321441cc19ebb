// The isolation probe on a real server: logs in with A's credentials, exactly as A would, and tries
// B's resource in every way a tenant's SQL can reach it. B's side is a canary table that B itself
// creates with its own credentials, so a refusal proves something, and B's canary is checked afterwards.
import { randomBytes } from 'node:crypto';
import { credentialFields, probeSetupError, runAttempt, type ProbeOutcome } from '../probe.js';
import { backendName, type ProbeAttempt, type ProbeReport, type ProbeSide } from '../provider.js';
import { connectAs, sqlState, type ConnectTarget, type PgSession } from './postgres-driver.js';
import { ident } from './postgres-sql.js';

interface Side extends ConnectTarget {
  /** Where the side's own tables live: its schema in schema mode, `public` of its database otherwise. */
  readonly schema: string;
}

const setupError = (message: string, cause?: unknown) => probeSetupError('postgres', message, cause);

function sideOf(label: 'A' | 'B', side: ProbeSide, mode: 'database' | 'schema'): Side {
  const { text, port: portOf } = credentialFields('postgres', label, side);
  const port = portOf();
  return {
    host: text('host'),
    port,
    user: text('user'),
    password: text('password'),
    database: text('database'),
    schema: mode === 'schema' ? text('schema') : 'public',
  };
}

/**
 * Refused when the server answered with an error (it always says why with a SQLSTATE); no SQLSTATE means
 * the network or the setup failed, which proves nothing either way.
 */
function refusal(error: unknown): string | null {
  const state = sqlState(error);
  return state === undefined ? null : `${state} ${(error as Error).message}`;
}

const attempt = (attempts: ProbeAttempt[], name: string, fn: () => Promise<ProbeOutcome>) =>
  runAttempt('postgres', attempts, name, fn, refusal);

async function connectSide(label: 'A' | 'B', side: Side): Promise<PgSession> {
  try {
    return await connectAs(side);
  } catch (error) {
    throw setupError(`${label}'s credentials do not connect to ${label}'s own database`, error);
  }
}

/**
 * Every attempt A makes against B, each reported with whether the server refused it.
 *
 * @example
 * const report = await probeServerIsolation('database', a, b);
 * if (!report.refused) alert(report.attempts.filter((x) => !x.refused));
 */
export async function probeServerIsolation(
  mode: 'database' | 'schema',
  a: ProbeSide,
  b: ProbeSide,
): Promise<ProbeReport> {
  if (backendName(a.ref) === backendName(b.ref)) throw setupError('A and B are the same resource');
  const A = sideOf('A', a, mode);
  const B = sideOf('B', b, mode);
  const marker = randomBytes(8).toString('hex');
  const table = `bulkhead_probe_${marker}`;
  const secret = randomBytes(16).toString('hex');
  const bTable = `${ident(B.schema)}.${ident(table)}`;
  // In database mode B's table is in another database; naming that database is the only way A's SQL
  // can point at it from A's own session.
  const bTableFromA = mode === 'database' ? `${ident(B.database)}.${bTable}` : bTable;
  const attempts: ProbeAttempt[] = [];
  const sessions: PgSession[] = [];
  let bCheck: PgSession | undefined;

  const bSession = await connectSide('B', B);
  sessions.push(bSession);
  try {
    await bSession.query(`CREATE TABLE ${bTable} (secret text NOT NULL)`);
    await bSession.query(`INSERT INTO ${bTable} VALUES ($1)`, [secret]);
    // B's last statement names the marker: pg_stat_activity keeps it as the query of the idle session.
    const { rows } = await bSession.query<{ pid: number }>(
      `SELECT pg_backend_pid() AS pid, 'bulkhead-probe-${marker}' AS marker`,
    );
    const bPid = rows[0]!.pid;
    const aSession = await connectSide('A', A);
    sessions.push(aSession);

    /** Runs a statement A should not be able to run; undoes it when it went through anyway. */
    const forbidden = async (statement: string, undo?: string): Promise<ProbeOutcome> => {
      await aSession.query(statement);
      if (undo !== undefined) await aSession.query(undo).catch(() => undefined);
      return { refused: false, detail: 'the statement succeeded' };
    };

    // Role names are not secret (they are made of ids), so the password is what keeps A out of B's role.
    // A server that trusts the connection instead of asking for it fails here.
    await attempt(attempts, "log in as B's role with A's password", async () => {
      const s = await connectAs({ ...B, password: A.password });
      await s.end();
      return { refused: false, detail: `A logged in as ${B.user}: the server did not check the password` };
    });
    if (mode === 'database') {
      await attempt(attempts, "connect to B's database", async () => {
        const s = await connectAs({ ...A, database: B.database });
        await s.end();
        return { refused: false, detail: `A logged in to ${B.database}` };
      });
      await attempt(attempts, "create a table in public of B's database", async () => {
        const s = await connectAs({ ...A, database: B.database });
        try {
          await s.query(`CREATE TABLE public.${ident(`${table}_a`)} (x int)`);
          await s.query(`DROP TABLE public.${ident(`${table}_a`)}`).catch(() => undefined);
          return { refused: false, detail: "A created a table in B's public schema" };
        } finally {
          await s.end();
        }
      });
    }
    await attempt(attempts, "read B's table", async () => {
      const { rows: found } = await aSession.query<{ secret: string }>(`SELECT secret FROM ${bTableFromA}`);
      const leaked = found.some((row) => row.secret === secret);
      return {
        refused: !leaked,
        detail: leaked ? "A read B's canary row" : `A saw ${found.length} rows, none of B's`,
      };
    });
    await attempt(attempts, "write B's table", () =>
      forbidden(`INSERT INTO ${bTableFromA} VALUES ('probe')`),
    );
    await attempt(attempts, "create a table in B's schema", () => {
      const t = `${mode === 'database' ? `${ident(B.database)}.` : ''}${ident(B.schema)}.${ident(`${table}_a`)}`;
      return forbidden(`CREATE TABLE ${t} (x int)`, `DROP TABLE ${t}`);
    });
    await attempt(attempts, "become B's role with SET ROLE", () =>
      forbidden(`SET ROLE ${ident(B.user)}`, 'RESET ROLE'),
    );
    await attempt(attempts, "read B's statement in pg_stat_activity", async () => {
      const { rows: seen } = await aSession.query<{ pid: number; query: string | null }>(
        `SELECT pid, query FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND (pid = $1 OR strpos(query, $2) > 0)`,
        [bPid, marker],
      );
      const leaked = seen.some((row) => row.query?.includes(marker) === true);
      const shown = seen.find((row) => row.pid === bPid)?.query;
      return {
        refused: !leaked,
        detail: leaked
          ? "A read the text of B's statement"
          : shown === undefined
            ? "B's session is not listed for A"
            : `B's session is listed with its statement shown as ${JSON.stringify(shown)}`,
      };
    });
    await attempt(attempts, "list B's tables in information_schema", async () => {
      const { rows: found } = await aSession.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = $1',
        [table],
      );
      const n = found[0]?.n ?? 0;
      return { refused: n === 0, detail: n === 0 ? "B's table is not listed" : "B's table is listed" };
    });
    // pg_class (and pg_namespace, pg_proc …) is readable by every role in its database, and hiding it
    // breaks ordinary clients, so in schema mode A can see the *names* of B's tables. We revoke nothing
    // there; what isolation must hold is that the names lead to no data. So this attempt lists B's
    // tables through pg_class and reads every one it finds: refused only when no read yields B's data,
    // and its detail says plainly when names were visible. In database mode B's tables are in another
    // database's catalog and A's catalog simply has none.
    await attempt(attempts, "read B's tables found through pg_class", async () => {
      const { rows: found } = await aSession.query<{ schema: string; name: string }>(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1`,
        [table],
      );
      if (found.length === 0) return { refused: true, detail: "A's catalog holds no table of B's" };
      const refusals: string[] = [];
      for (const row of found) {
        try {
          const { rows: data } = await aSession.query<{ secret: string }>(
            `SELECT secret FROM ${ident(row.schema)}.${ident(row.name)}`,
          );
          if (data.some((d) => d.secret === secret)) {
            return {
              refused: false,
              detail: `A found ${row.schema}.${row.name} in pg_class and read B's canary`,
            };
          }
        } catch (error) {
          const state = sqlState(error);
          if (state === undefined) throw error;
          refusals.push(state);
        }
      }
      return {
        refused: true,
        detail:
          `pg_class shows ${found.length} table name(s) of B's (catalogs are readable by every role); ` +
          `reading them was refused (${refusals.join(', ') || 'no rows'})`,
      };
    });
    if (mode === 'schema') {
      await attempt(attempts, 'create a table in public of the shared database', () => {
        const t = `public.${ident(`${table}_a`)}`;
        return forbidden(`CREATE TABLE ${t} (x int)`, `DROP TABLE ${t}`);
      });
      await attempt(attempts, 'create a schema in the shared database', () => {
        const s = ident(`${table}_a`);
        return forbidden(`CREATE SCHEMA ${s}`, `DROP SCHEMA ${s}`);
      });
    }
    await attempt(attempts, "end B's session with pg_terminate_backend", async () => {
      const { rows: ended } = await aSession.query<{ ended: boolean }>(
        'SELECT pg_terminate_backend($1) AS ended',
        [bPid],
      );
      const killed = ended[0]?.ended === true;
      return { refused: !killed, detail: killed ? "A ended B's session" : "B's session was not ended" };
    });

    // A fresh session: the old one may be gone if an attempt above ended it.
    bCheck = await connectSide('B', B);
    const { rows: after } = await bCheck.query<{ secret: string }>(`SELECT secret FROM ${bTable}`);
    const intact = after.length === 1 && after[0]?.secret === secret;
    attempts.push({
      attempt: "B's canary after all attempts",
      refused: intact,
      detail: intact ? 'unchanged: one row, as B wrote it' : `changed: ${after.length} rows`,
    });
    return { refused: attempts.every((x) => x.refused), attempts };
  } finally {
    await Promise.all(sessions.map((s) => s.end()));
    const cleaner = bCheck ?? (await connectAs(B).catch(() => undefined));
    await cleaner?.query(`DROP TABLE IF EXISTS ${bTable}`).catch(() => undefined);
    await cleaner?.end();
  }
}
