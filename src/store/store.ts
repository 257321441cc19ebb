// The control-plane store: Kysely over an embedded PGlite (a data directory, the default) or a
// PostgreSQL server. Both run the same migrations and the same code above this file.
//
// Nothing above this file queries without a scope. `withDomain` runs a transaction that can see and
// change one domain's rows only: the application role (no BYPASSRLS) and the row-level security
// policies of the migrations enforce it in the database, whatever the query says. `system` is the one
// door for work that must cross domains (the operator, authentication by credential, the reconciler,
// the audit chain); every caller names its purpose.
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, rmSync, constants } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { BulkheadError } from '../errors.js';
import { appRole, migrateToLatest, systemRole } from './migrations.js';
import { openNotice, randomNoticeKey, sealNotice } from './notices.js';
import { pgliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';

export type StoreKind = 'pglite' | 'postgres';
declare const scope: unique symbol;
/** A transaction that sees one domain's rows only. */
export type DomainTx = Kysely<Database> & { readonly [scope]: 'domain' };
/** A transaction of the system context: it sees every domain. */
export type SystemTx = Kysely<Database> & { readonly [scope]: 'system' };
/** A scoped transaction: the only way to reach the tables. */
export type Tx = DomainTx | SystemTx;

/**
 * Why a transaction crosses domains. The list is closed so that every such path is named here:
 * - `operator`: the operator's own calls (listing or changing domains, the whole audit log);
 * - `authenticate`: finding the domain a presented credential belongs to;
 * - `reconciler`: finishing or undoing provisioning left by a crash, across domains;
 * - `audit`: verifying the whole hash chain;
 * - `revocations`: the revocation feed, which serves every domain's verifiers;
 * - `jwks`: publishing every active domain's public signing keys in one key set;
 * - `grants`: deciding whether a live grant lets one domain act in another;
 * - `verify`: recording and reading the results of isolation runs (a system table, and a failed run's
 *   audit event).
 */
export type SystemPurpose =
  'operator' | 'authenticate' | 'reconciler' | 'audit' | 'revocations' | 'jwks' | 'grants' | 'verify';

const domainIdPattern = /^dom_[0-9a-z]{26}$/;

export interface Store {
  readonly kind: StoreKind;
  /**
   * Runs `fn` in one transaction scoped to `domainId`: every statement sees and changes that domain's
   * rows only. Everything it writes (including audit events) commits or not at all. A malformed domain
   * id is `not_found`, like a domain that does not exist.
   */
  withDomain<T>(domainId: string, fn: (tx: DomainTx) => Promise<T>): Promise<T>;
  /** Runs `fn` in one transaction of the system context, which sees every domain. */
  system<T>(purpose: SystemPurpose, fn: (tx: SystemTx) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  /**
   * Notifies `channel` with `payload` if and when `tx` commits. The payload is sealed with the store's
   * notice key; one too big for a NOTIFY is dropped and the notice arrives bare.
   */
  notify(tx: Tx, channel: string, payload: string): Promise<void>;
  /**
   * Calls `onNotify` whenever a committed transaction notified `channel`: with the payload when it came
   * through `notify` with this store's notice key, with null for a bare notice or one sent any other way
   * (anyone connected to the database can NOTIFY). Resolves to a stop function. On PostgreSQL this holds
   * one connection of its own.
   */
  listen(channel: string, onNotify: (payload: string | null) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export type StoreOptions = (
  | { kind: 'postgres'; url: string; poolSize?: number }
  /** `dataDir` undefined keeps the database in memory (tests). */
  | { kind: 'pglite'; dataDir?: string }
) & {
  /**
   * Seals notification payloads (see `deriveNoticeKey`); every process sharing a PostgreSQL store needs
   * the same one to read the others' payloads. Default: a random key, so this process reads only its own
   * and treats the others' notices as bare.
   */
  noticeKey?: Buffer;
};

/** Thrown when another process holds an embedded data directory. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the data directory ${dataDir} is in use by process ${pid}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PGlite is one process's database: a lock file keeps a second process out of the same directory. */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(dataDir, 'bulkhead.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new DataDirLockedError(dataDir, pid);
      }
      rmSync(lockPath, { force: true }); // left by a process that died
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

const int8AsNumber = (value: string) => {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
};

/**
 * Opens the store and brings its schema up to date.
 *
 * @example
 * const store = await openStore({ kind: 'pglite', dataDir: '.bulkhead' });
 */
/**
 * Refuses to serve when the roles the isolation rests on were widened after the migrations: the
 * application role must not bypass row-level security nor inherit the system role's policies.
 */
async function checkRoles(db: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{ rolname: string; unsafe: boolean }>`
    SELECT rolname, (rolsuper OR rolbypassrls OR rolinherit) AS unsafe
    FROM pg_roles WHERE rolname IN (${appRole}, ${systemRole})`.execute(db);
  const unsafe = rows.filter((r) => r.unsafe).map((r) => r.rolname);
  if (rows.length !== 2 || unsafe.length > 0) {
    throw new Error(
      `The database roles ${appRole} and ${systemRole} must exist without SUPERUSER, BYPASSRLS or INHERIT` +
        (unsafe.length > 0 ? ` (changed: ${unsafe.join(', ')})` : '') +
        '. Start once connected as the database owner (it repairs them), or run ' +
        `ALTER ROLE … NOSUPERUSER NOBYPASSRLS NOINHERIT for each.`,
    );
  }
}

export async function openStore(options: StoreOptions): Promise<Store> {
  let db: Kysely<Database>;
  let unlock = () => {};
  let listen: Store['listen'];
  const noticeKey = options.noticeKey ?? randomNoticeKey();
  if (options.kind === 'postgres') {
    const poolOf = (max: number, role?: string) => {
      const pool = new pg.Pool({
        connectionString: options.url,
        max,
        // Every connection of the application pool runs as the application role from its first statement.
        ...(role === undefined ? {} : { options: `-c role=${role}` }),
        types: {
          getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
            oid === 20
              ? int8AsNumber
              : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
        },
      });
      // An idle connection the server drops (restart, failover, a terminated backend) must not crash
      // the process; the pool replaces it on the next checkout.
      pool.on('error', () => {});
      return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    };
    // Migrations run as the connecting (owning) role on a connection of their own.
    const owner = poolOf(1);
    try {
      await migrateToLatest(owner as Kysely<unknown>);
    } finally {
      await owner.destroy();
    }
    db = poolOf(options.poolSize ?? 10, appRole);
    listen = async (channel, onNotify) => {
      const client = new pg.Client({ connectionString: options.url });
      client.on('error', () => {});
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(openNotice(noticeKey, channel, message.payload));
      });
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
      return async () => {
        await client.end().catch(() => undefined);
      };
    };
  } else {
    let pglite: PGlite;
    if (options.dataDir === undefined) {
      pglite = await PGlite.create();
    } else {
      unlock = lockDataDir(options.dataDir);
      try {
        pglite = await PGlite.create(join(options.dataDir, 'pgdata'));
      } catch (error) {
        unlock();
        throw error;
      }
    }
    db = new Kysely<Database>({ dialect: pgliteDialect(pglite) });
    const embedded = pglite;
    listen = async (channel, onNotify) =>
      embedded
        .listen(channel, (payload) => onNotify(openNotice(noticeKey, channel, payload)))
        .then((stop) => async () => stop());
    try {
      await migrateToLatest(db as Kysely<unknown>);
      // PGlite is one session: after the migrations it runs as the application role for good.
      await sql.raw(`SET ROLE ${appRole}`).execute(db);
    } catch (error) {
      await db.destroy();
      unlock();
      throw error;
    }
  }
  // BEGIN and the scope travel in one round trip. Every transaction names its role and, for a domain,
  // the domain (both transaction-local), so nothing a stray statement left on a pooled connection counts.
  const scoped = async <T>(setup: string, fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> =>
    db.connection().execute(async (conn) => {
      await sql.raw(`BEGIN; ${setup}`).execute(conn);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        await sql
          .raw('ROLLBACK')
          .execute(conn)
          .catch(() => undefined);
        throw error;
      }
      await sql.raw('COMMIT').execute(conn);
      return result;
    });
  try {
    await checkRoles(db);
  } catch (error) {
    await db.destroy();
    unlock();
    throw error;
  }
  let closed = false;
  return {
    kind: options.kind,
    withDomain(domainId, fn) {
      // The id is inlined (so BEGIN and the scope are one round trip) only after this exact check.
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId)) {
        return Promise.reject(new BulkheadError('not_found'));
      }
      return scoped(
        `SET LOCAL ROLE ${appRole}; SELECT set_config('bulkhead.domain_id', '${domainId}', true)`,
        fn as (tx: Kysely<Database>) => Promise<never>,
      );
    },
    system(_purpose, fn) {
      return scoped(
        `SET LOCAL ROLE ${systemRole}; SELECT set_config('bulkhead.domain_id', '', true)`,
        fn as (tx: Kysely<Database>) => Promise<never>,
      );
    },
    async ping() {
      await sql`SELECT 1`.execute(db);
    },
    async notify(tx, channel, payload) {
      await sql`SELECT pg_notify(${channel}, ${sealNotice(noticeKey, channel, payload)})`.execute(tx);
    },
    listen: (channel, onNotify) => listen(channel, onNotify),
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
      unlock();
    },
  };
}
