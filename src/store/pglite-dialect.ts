// Runs Kysely's PostgreSQL dialect on an embedded PGlite. PGlite is one session, so the pool hands out
// that session to one caller at a time; a transaction therefore holds it until it commits.
import type { PGlite, Results } from '@electric-sql/pglite';
import {
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
} from 'kysely';

class PGliteSession {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly pg: PGlite) {}

  async acquire(): Promise<PostgresPoolClient> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const previous = this.queue;
    this.queue = previous.then(() => released);
    await previous;
    const pg = this.pg;
    let done = false;
    return {
      async query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
        if (parameters.length === 0 && sql.includes(';')) {
          const results = await pg.exec(sql);
          const last = results.at(-1);
          return { command: 'SELECT', rowCount: last?.rows.length ?? 0, rows: (last?.rows ?? []) as R[] };
        }
        const result = (await pg.query<R>(sql, parameters as unknown[])) as Results<R> & { command?: string };
        const command = (result.command ?? 'SELECT') as PostgresQueryResult<R>['command'];
        return { command, rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
      },
      release() {
        if (done) return;
        done = true;
        release();
      },
    } as unknown as PostgresPoolClient;
  }
}

export function pgliteDialect(pg: PGlite): PostgresDialect {
  const session = new PGliteSession(pg);
  const pool: PostgresPool = {
    connect: () => session.acquire(),
    end: () => pg.close(),
  };
  return new PostgresDialect({ pool });
}
