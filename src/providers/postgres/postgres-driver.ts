// The part of `pg` the provider uses, typed as small structural interfaces, and the few ways it
// connects: a small admin pool per database it administers and short-lived clients for everything
// else. Pools and clients never crash the process on a dropped idle connection.
import pg from 'pg';

export interface PgResult<R> {
  readonly rows: R[];
}

export interface Queryable {
  /** With `values`, one parameterised statement; without, any number of statements in one round trip. */
  query<R extends object = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
  ): Promise<PgResult<R>>;
}

export interface PgSession extends Queryable {
  end(): Promise<void>;
}

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

// A probe or an admin step that hangs is a broken setup, not a refusal; these bound how long it waits.
const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 30_000;

const ignore = (): void => {};

function asQueryable(target: pg.Pool | pg.Client): Queryable {
  return {
    query: async <R extends object>(text: string, values?: readonly unknown[]) => {
      const result: unknown = await (values === undefined
        ? target.query(text)
        : target.query(text, [...values]));
      // A multi-statement text answers an array of results; callers want the last statement's rows.
      const last: unknown = Array.isArray(result) ? result.at(-1) : result;
      return { rows: (last as { rows?: R[] } | undefined)?.rows ?? [] };
    },
  };
}

/** `url` with its database replaced (pg lets a connection string win over a `database` option). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export interface AdminPool extends Queryable {
  end(): Promise<void>;
}

export function openAdminPool(url: string, max = 4): AdminPool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: 'bulkhead-provisioner',
  });
  // An idle client dropped by the server (restart, pg_terminate_backend) is replaced on next use.
  pool.on('error', ignore);
  return { ...asQueryable(pool), end: () => pool.end() };
}

/** One admin connection to the admin URL's own database, for a session-level lock. */
export async function adminSession(adminUrl: string): Promise<PgSession> {
  return connect(
    new pg.Client({
      connectionString: adminUrl,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'bulkhead-provisioner',
    }),
  );
}

/** One admin connection to `database`, for the statements that only work inside it. */
export async function connectAdmin(adminUrl: string, database: string): Promise<PgSession> {
  return connect(
    new pg.Client({
      connectionString: withDatabase(adminUrl, database),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'bulkhead-provisioner',
    }),
  );
}

/** A connection as a tenant, exactly as the tenant would make it with its credentials. */
export async function connectAs(target: ConnectTarget): Promise<PgSession> {
  return connect(
    new pg.Client({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'bulkhead-probe',
    }),
  );
}

async function connect(client: pg.Client): Promise<PgSession> {
  client.on('error', ignore);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(ignore);
    throw error;
  }
  return { ...asQueryable(client), end: () => client.end().catch(ignore) };
}

/** Runs `fn` on a short-lived admin connection to `database`, closing it whatever happens. */
export async function inDatabase<T>(
  adminUrl: string,
  database: string,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  const session = await connectAdmin(adminUrl, database);
  try {
    return await fn(session);
  } finally {
    await session.end();
  }
}

/** The SQLSTATE of an error the server sent, or undefined for anything else (network, timeout, bug). */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError && typeof error.code === 'string' ? error.code : undefined;
}

export const SQLSTATE = {
  duplicateDatabase: '42P04',
  duplicateObject: '42710',
  uniqueViolation: '23505',
  undefinedObject: '42704',
} as const;
