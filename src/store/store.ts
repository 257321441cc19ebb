// The control-plane store: Kysely over an embedded PGlite (a data directory, the default) or a
// PostgreSQL server. Both run the same migrations and the same code above this file.
//
// Nothing above this file queries without a scope. `withDomain` runs a transaction that can see and
// change one domain's rows only: the application role (no BYPASSRLS) and the row-level security
// policies of the migrations enforce it in the database, whatever the query says. `system` is the one
// door for work that must cross domains (the operator, authentication by credential, the reconciler,
// the audit chain); every caller names its purpose. On PostgreSQL with `systemUrl` that door is a pool of
// its own, logged in as a member of the system role, and the application pool's login can enter no role
// but the application role: SQL injected into a domain's transaction has no way into the system context.
// Nor into another domain: only a message the server signed with the database's scope key enters a
// domain (`scope.ts`, migration 0019), so a statement inside a transaction cannot name another one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, rmSync, constants } from 'node:fs';
import { join } from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SelectQueryNode,
  sql,
  type Compilable,
  type CompiledQuery,
} from 'kysely';
import pg from 'pg';
import { earliestTimestamp, latestTimestamp, renderableTimestamp } from '../domain/timestamp.js';
import { BulkheadError } from '../errors.js';
import { inlineLiterals, inlineParameters, parameterLiterals } from './inline.js';
import { appRole, migrateToLatest, systemRole } from './migrations.js';
import { openNotice, randomNoticeKey, sealNotice } from './notices.js';
import { pgliteDialect } from './pglite-dialect.js';
import { enterScope, scopeSetting, sealScope } from './scope.js';
import type { Database } from './schema.js';

export type StoreKind = 'pglite' | 'postgres';

/** Where the server's transactions look for tables: Bulkhead's schema, and temporary tables only after it. */
export const storeSearchPath = 'public, pg_temp';

// Statements each open transaction has left for its COMMIT, which carries them in the same message.
const atCommit = new WeakMap<object, string[]>();

/**
 * Leaves `query` to run just before the transaction's COMMIT, in the same message, and answers true;
 * false (and nothing queued) when the transaction does not take such statements or the query's
 * parameters cannot be written as literals, so the caller runs it at once. For a statement whose result
 * nobody reads: it saves a round trip, and a lock it takes is held only while the commit runs.
 */
export function deferToCommit(tx: Tx, query: CompiledQuery): boolean {
  const queued = atCommit.get(tx);
  if (queued === undefined) return false;
  const text = inlineParameters(query.sql, query.parameters);
  if (text === null) return false;
  queued.push(text);
  return true;
}
// How long a new listening connection waits for its own probe notice before it is dropped, and how long
// after that a new one is tried.
const listenProbeMs = 5_000;
const listenRetryMs = 30_000;
// Prepared reads (PostgreSQL): a name per query text, the limit per connection, the texts the server
// would not prepare, and the errors after which a read is tried again with nothing prepared.
const statementNames = new Map<string, string>();
const maxPreparedPerConnection = 256;
const unpreparable = new Set<string>();
/** The server's "cached plan must not change result type": a prepared statement outlived its table's shape. */
const planChanged = '0A000';
/**
 * "prepared statement … does not exist" and "… already exists": the message reached another server
 * session than the one this connection prepared on, as a pooler in transaction mode does (or one in
 * session mode that hands a new connection a session still holding an earlier one's statements).
 */
const sessionNotOwn = new Set(['26000', '42P05']);
/** Parameter types the server cannot settle from the text alone (indeterminate, ambiguous). */
const typesUnsettled = new Set(['42P18', '42P08', '42725']);

/** The name `read` prepares `text` under: the same on every connection, and never another text's. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `bh_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
    if (statementNames.size >= 4096) statementNames.clear();
    statementNames.set(text, name);
  }
  return name;
}
declare const scope: unique symbol;
/** A transaction that sees one domain's rows only. */
export type DomainTx = Kysely<Database> & { readonly [scope]: 'domain' };
/** A transaction of the system context: it sees every domain. */
export type SystemTx = Kysely<Database> & { readonly [scope]: 'system' };
/** A scoped transaction: the only way to reach the tables. */
export type Tx = DomainTx | SystemTx;
/** Builds the queries of `Store.read`; it compiles them and cannot run anything itself. */
export type DomainQueries = Kysely<Database> & { readonly [scope]: 'read' };
/** Builds the queries of `Store.systemRead`, which see every domain; it cannot run anything itself. */
export type SystemQueries = Kysely<Database> & { readonly [scope]: 'system-read' };
/** The rows of each query `Store.read` was given, in order. */
export type Rows<Q extends readonly Compilable<unknown>[]> = {
  -readonly [K in keyof Q]: Q[K] extends Compilable<infer R> ? R[] : never;
};

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
 *   audit event);
 * - `billing`: finding what each domain stores, for the storage meter (each domain's usage is then
 *   recorded in its own transaction).
 */
export type SystemPurpose =
  | 'operator'
  | 'authenticate'
  | 'reconciler'
  | 'audit'
  | 'revocations'
  | 'jwks'
  | 'grants'
  | 'verify'
  | 'billing';

const domainIdPattern = /^dom_[0-9a-z]{26}$/;

/** The driver of a Kysely instance that only compiles queries. */
class CompileOnlyDriver extends DummyDriver {
  override acquireConnection(): never {
    throw new Error('this query builder compiles queries for Store.read; it cannot run them');
  }
}

export interface Store {
  readonly kind: StoreKind;
  /**
   * Runs `fn` in one transaction scoped to `domainId`: every statement sees and changes that domain's
   * rows only. Everything it writes (including audit events) commits or not at all. A malformed domain
   * id is `not_found`, like a domain that does not exist.
   */
  withDomain<T>(domainId: string, fn: (tx: DomainTx) => Promise<T>): Promise<T>;
  /**
   * Runs read-only queries scoped to `domainId`, like `withDomain`, in a single round trip on PostgreSQL:
   * the scope and the queries travel as one message that the server runs as one transaction, each query
   * a statement prepared on that connection (planned once per connection). Only SELECT queries are
   * accepted, with no WITH query that changes rows. A malformed domain id is `not_found`.
   *
   * @example
   * const [rows] = await store.read(domainId, (db) => [db.selectFrom('volumes').selectAll().where('id', '=', id)]);
   */
  read<const Q extends readonly Compilable<unknown>[]>(
    domainId: string,
    build: (db: DomainQueries) => Q,
  ): Promise<Rows<Q>>;
  /**
   * Runs the statements `build` returns (of any kind), then what it leaves for the commit (`appendAudit`,
   * `deferToCommit`), as one transaction scoped to `domainId`, like `withDomain`, and answers each
   * statement's rows. On PostgreSQL they travel as a single message: one round trip, one commit. `build`
   * runs no statement itself (its handle only compiles), so no code decides between them: a statement
   * that depends on an earlier one says so in SQL (a WHERE on what that one wrote; `appendAudit`'s
   * `when`). Each statement reads what committed before it started, and what the ones before it wrote.
   * If one fails, none of them counts. A malformed domain id is `not_found`.
   */
  change<const Q extends readonly Compilable<unknown>[]>(
    domainId: string,
    build: (db: DomainTx) => Q | Promise<Q>,
  ): Promise<Rows<Q>>;
  /** Runs `fn` in one transaction of the system context, which sees every domain. */
  system<T>(purpose: SystemPurpose, fn: (tx: SystemTx) => Promise<T>): Promise<T>;
  /**
   * Runs read-only queries in the system context, like `system`, in a single round trip on PostgreSQL
   * (as `read` does for a domain). Only SELECT queries are accepted.
   */
  systemRead<const Q extends readonly Compilable<unknown>[]>(
    purpose: SystemPurpose,
    build: (db: SystemQueries) => Q,
  ): Promise<Rows<Q>>;
  /**
   * Runs what `fn` leaves for the commit (`appendAudit`, `deferToCommit`) as one transaction of the system
   * context, in a single message on PostgreSQL: for a change whose statements need no answer, such as an
   * audit event and what it records. `fn` runs no statement itself (its handle only compiles); nothing is
   * sent when it leaves nothing.
   */
  systemCommit(purpose: SystemPurpose, fn: (tx: SystemTx) => Promise<void>): Promise<void>;
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
   * one connection of its own, and reconnects when it is lost.
   */
  listen(
    channel: string,
    onNotify: (payload: string | null) => void,
    options?: ListenOptions,
  ): Promise<() => Promise<void>>;
  /**
   * True when the store was given the notice key that every process sharing it holds (`noticeKey`): then
   * a bare notice on a channel whose payloads always fit comes from no Bulkhead process and may be
   * ignored. False with a key of this process's own, where the other processes' notices arrive bare.
   */
  readonly sharedNoticeKey: boolean;
  close(): Promise<void>;
}

export interface ListenOptions {
  /**
   * Called with false when notices may have been missed from then on (the connection was lost), and with
   * true when they arrive again: once listening has begun, and after each reconnect.
   */
  readonly onConnection?: (up: boolean) => void;
  /**
   * Also hands `onNotify` the notices of this process's own transactions at their COMMIT, before the
   * transaction returns, so its caller never gets ahead of them. The copy the database delivers follows,
   * so the listener sees those twice.
   */
  readonly ownCommits?: boolean;
}

export type StoreOptions = (
  | {
      kind: 'postgres';
      url: string;
      poolSize?: number;
      /**
       * A URL whose connections each keep one server session for as long as they live: PostgreSQL
       * itself, or a pooler in session mode. The migrations (which hold a session-level lock) and the
       * connections that listen for notifications use it. Needed when `url` is a pooler in transaction
       * mode, which hands each transaction to whichever server session is free: a lock taken there is
       * left on a session nobody holds, and a LISTEN there hears nothing. Default: `url`.
       */
      sessionUrl?: string;
      /**
       * A login that is a member of the system role, for `system`, `systemRead` and `systemCommit` on a
       * pool of their own (of `poolSize` connections too). With it, the application pool's login (`url`)
       * must be a member of the application role and of nothing else: then SQL injected into a domain's
       * transaction can neither switch to the system role nor back to a wider login. Default: the system
       * context runs on the application pool, switching per transaction, which needs a login (the owner)
       * that is a member of the system role as well.
       */
      systemUrl?: string;
    }
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

/** PostgreSQL's type oids for `timestamp` and `timestamptz`. */
const timestampOids = [1114, 1184] as const;

/**
 * Reads a stored time as an instant every reader can render: one the API refuses today but the store
 * holds (written before the API refused it, or by hand: year 10000, `infinity`, a date BC) comes back
 * at the nearest end of the years 0001–9999, so a listing that holds it still answers.
 */
function renderableStoredTime(read: (text: string) => unknown): (text: string) => Date {
  return (text) => {
    if (text === 'infinity') return new Date(latestTimestamp);
    if (text === '-infinity' || text.endsWith(' BC')) return new Date(earliestTimestamp);
    const value = read(text);
    return renderableTimestamp(value instanceof Date || typeof value === 'number' ? value : Number.NaN);
  };
}

/** Thrown when the database's roles, or the logins the store was given, would not keep domains apart. */
export class StoreRolesError extends Error {
  override readonly name = 'StoreRolesError';
}

/**
 * Refuses to serve when the roles the isolation rests on were widened after the migrations: the
 * application role must not bypass row-level security, inherit the system role's policies nor be a
 * member of it.
 */
async function checkRoles(db: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{ rolname: string; unsafe: boolean }>`
    SELECT rolname, (rolsuper OR rolbypassrls OR rolinherit) AS unsafe
    FROM pg_roles WHERE rolname IN (${appRole}, ${systemRole})`.execute(db);
  const unsafe = rows.filter((r) => r.unsafe).map((r) => r.rolname);
  if (rows.length !== 2 || unsafe.length > 0) {
    throw new StoreRolesError(
      `The database roles ${appRole} and ${systemRole} must exist without SUPERUSER, BYPASSRLS or INHERIT` +
        (unsafe.length > 0 ? ` (changed: ${unsafe.join(', ')})` : '') +
        '. Start once connected as the database owner (it repairs them), or run ' +
        `ALTER ROLE … NOSUPERUSER NOBYPASSRLS NOINHERIT for each.`,
    );
  }
  const member = await sql<{ member: boolean }>`
    SELECT pg_has_role(${appRole}, ${systemRole}, 'MEMBER') AS member`.execute(db);
  if (member.rows[0]!.member) {
    throw new StoreRolesError(
      `The database role ${appRole} is a member of ${systemRole}, so SQL injected into a domain's ` +
        `transaction could switch to it. Start once connected as the database owner (it revokes it), or run ` +
        `REVOKE ${systemRole} FROM ${appRole}.`,
    );
  }
  // The scope is unforgeable only while the application role cannot read the key and every policy takes
  // the domain from the verified scope (migration 0019), never from the setting itself.
  const scope = await sql<{ key: boolean; policies: string[] }>`
    SELECT has_table_privilege(${appRole}, 'public.scope_keys', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') AS key,
      ARRAY(SELECT tablename || '.' || policyname FROM pg_policies
            WHERE schemaname = 'public' AND (qual LIKE ${`%${scopeSetting}%`} OR with_check LIKE ${`%${scopeSetting}%`})
            ORDER BY 1) AS policies`.execute(db);
  if (scope.rows[0]!.key) {
    throw new StoreRolesError(
      `The database role ${appRole} has a privilege on scope_keys, so SQL injected into a domain's ` +
        `transaction could sign any domain's scope. Run REVOKE ALL ON scope_keys FROM ${appRole}, PUBLIC.`,
    );
  }
  if (scope.rows[0]!.policies.length > 0) {
    throw new StoreRolesError(
      `These row-level security policies read ${scopeSetting} unverified, which any session may set: ` +
        `${scope.rows[0]!.policies.join(', ')}. Make them compare with (SELECT public.scope_domain()).`,
    );
  }
}

interface Login {
  login: string;
  superuser: boolean;
  bypass: boolean;
  /** Whether it may enter the system role. */
  system: boolean;
  /** Every other role it is a member of, directly or not. */
  memberOf: string[];
  /** Whether it owns the database or a table of Bulkhead's schema. */
  owner: boolean;
}

/** What the connection's login (not the role it switched to) is and may become. */
async function loginOf(db: Kysely<Database>): Promise<Login> {
  const { rows } = await sql<Login>`
    SELECT r.rolname AS login, r.rolsuper AS superuser, r.rolbypassrls AS bypass,
      pg_has_role(r.oid, ${systemRole}, 'MEMBER') AS system,
      ARRAY(SELECT o.rolname::text FROM pg_roles o
            WHERE o.oid <> r.oid AND pg_has_role(r.oid, o.oid, 'MEMBER') ORDER BY 1) AS "memberOf",
      (d.datdba = r.oid OR EXISTS (SELECT 1 FROM pg_class c
                                   WHERE c.relowner = r.oid AND c.relnamespace = 'public'::regnamespace)) AS owner
    FROM pg_roles r, pg_database d
    WHERE r.rolname = session_user AND d.datname = current_database()`.execute(db);
  return rows[0]!;
}

const appUrlSetting = 'BULKHEAD_DATABASE_URL';
const systemUrlSetting = 'BULKHEAD_DATABASE_SYSTEM_URL';

/**
 * Refuses to serve on PostgreSQL when the logins would not keep the doors apart. With a system login of
 * its own, the application pool's login must be a member of the application role and of nothing else
 * (not the owner, not a superuser, no BYPASSRLS), and the system pool's a member of the system role.
 * Without one, the application pool's login (the owner, unseparated) must be able to enter the system
 * role, or no system work could run.
 */
async function checkLogins(app: Kysely<Database>, system: Kysely<Database> | null): Promise<void> {
  const login = await loginOf(app);
  if (system === null) {
    if (!login.system) {
      throw new StoreRolesError(
        `${appUrlSetting} logs in as ${login.login}, which is not a member of ${systemRole}, and ` +
          `${systemUrlSetting} is not set: set it to a login that is a member of ${systemRole} only ` +
          `(CREATE ROLE … LOGIN PASSWORD '…' IN ROLE ${systemRole}).`,
      );
    }
    return;
  }
  const wider = login.superuser
    ? 'is a superuser'
    : login.bypass
      ? 'has BYPASSRLS'
      : login.owner
        ? 'owns the database or its tables'
        : login.memberOf.length !== 1 || login.memberOf[0] !== appRole
          ? `is a member of ${login.memberOf.filter((r) => r !== appRole).join(', ') || 'no role'}` +
            (login.memberOf.includes(appRole) ? '' : ` and not of ${appRole}`)
          : null;
  if (wider !== null) {
    throw new StoreRolesError(
      `${appUrlSetting} logs in as ${login.login}, which ${wider}: with ${systemUrlSetting} set, the ` +
        `application login must be a member of ${appRole} and of no other role ` +
        `(CREATE ROLE … LOGIN PASSWORD '…' IN ROLE ${appRole}).`,
    );
  }
  const systemLogin = await loginOf(system);
  if (!systemLogin.system) {
    throw new StoreRolesError(
      `${systemUrlSetting} logs in as ${systemLogin.login}, which is not a member of ${systemRole}.`,
    );
  }
}

/**
 * A pool's connections start as its role (`options=-c role=…`): a login that may not enter it is refused
 * at connect, which is said here in terms of the setting that names the login.
 */
function refusedAtConnect(error: unknown): unknown {
  if (!(error instanceof pg.DatabaseError) || error.code !== '42501') return error;
  for (const [role, setting] of [
    [appRole, appUrlSetting],
    [systemRole, systemUrlSetting],
  ] as const) {
    if (error.message.includes(`set role "${role}"`)) {
      return new StoreRolesError(
        `${setting} logs in as a role that is not a member of ${role} (${error.message}).`,
      );
    }
  }
  return error;
}

/**
 * Opens the store and brings its schema up to date.
 *
 * @example
 * const store = await openStore({ kind: 'pglite', dataDir: '.bulkhead' });
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  let db: Kysely<Database>;
  let unlock = () => {};
  let listen: (
    channel: string,
    onNotify: (payload: string | null) => void,
    onConnection?: (up: boolean) => void,
  ) => Promise<() => Promise<void>>;
  // The application pool on PostgreSQL, for reads that travel in one message (null on PGlite).
  let appPool: pg.Pool | null = null;
  // The system context's own pool, when it logs in as a login of its own (PostgreSQL, `systemUrl`).
  let systemDoor: { pool: pg.Pool; db: Kysely<Database> } | null = null;
  const noticeKey = options.noticeKey ?? randomNoticeKey();
  if (options.kind === 'postgres') {
    const poolOf = (max: number, role?: string, url = options.url) => {
      const pool = new pg.Pool({
        connectionString: url,
        max,
        // Every connection of the application pool runs as the application role from its first statement
        // (the system pool's as the system role), with the search path its transactions pin.
        ...(role === undefined
          ? {}
          : { options: `-c role=${role} -c search_path=${storeSearchPath.replace(' ', '')}` }),
        types: {
          getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
            oid === 20
              ? int8AsNumber
              : (timestampOids as readonly number[]).includes(oid) && format !== 'binary'
                ? renderableStoredTime(pg.types.getTypeParser(oid, 'text') as (text: string) => unknown)
                : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
        },
      });
      // An idle connection the server drops (restart, failover, a terminated backend) must not crash
      // the process; the pool replaces it on the next checkout.
      pool.on('error', () => {});
      return { pool, kysely: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
    };
    // Migrations run as the connecting (owning) role on a connection (and a server session) of their own.
    const owner = poolOf(1, undefined, options.sessionUrl).kysely;
    try {
      await migrateToLatest(owner as Kysely<unknown>);
    } finally {
      await owner.destroy();
    }
    const app = poolOf(options.poolSize ?? 10, appRole);
    db = app.kysely;
    appPool = app.pool;
    if (options.systemUrl !== undefined) {
      const system = poolOf(options.poolSize ?? 10, systemRole, options.systemUrl);
      systemDoor = { pool: system.pool, db: system.kysely };
    }
    const notifier = app.pool;
    listen = async (channel, onNotify, onConnection) => {
      let stopped = false;
      let current: pg.Client | null = null;
      let retry: NodeJS.Timeout | null = null;
      const retryLater = (ms = 1_000) => {
        if (stopped || retry !== null) return;
        retry = setTimeout(() => {
          retry = null;
          connect().catch(() => retryLater());
        }, ms);
        retry.unref();
      };
      const connect = async () => {
        const client = new pg.Client({ connectionString: options.sessionUrl ?? options.url });
        // A LISTEN answered is no proof that notices arrive: a pooler in transaction mode takes it on a
        // server session it then hands to other clients, which get what that session hears. So the
        // connection counts as listening only once a notice sent from the application pool reaches it.
        const probe = `bulkhead_probe_${randomBytes(12).toString('hex')}`;
        const probeText = randomBytes(12).toString('hex');
        let heard = () => {};
        const probeHeard = new Promise<void>((resolve) => (heard = resolve));
        const lost = () => {
          if (current !== client) return;
          current = null;
          onConnection?.(false);
          retryLater();
        };
        client.on('error', lost);
        client.on('end', lost);
        client.on('notification', (message) => {
          if (message.channel === channel) onNotify(openNotice(noticeKey, channel, message.payload));
          else if (message.channel === probe && message.payload === probeText) heard();
        });
        try {
          await client.connect();
          await client.query(`LISTEN ${client.escapeIdentifier(channel)}; LISTEN ${probe}`);
        } catch (error) {
          await client.end().catch(() => undefined);
          throw error;
        }
        if (stopped) {
          await client.end().catch(() => undefined);
          return;
        }
        current = client;
        void (async () => {
          let timer: NodeJS.Timeout | undefined;
          const arrived = await Promise.race([
            notifier.query(`NOTIFY ${probe}, '${probeText}'`).then(() => probeHeard.then(() => true)),
            new Promise<false>((resolve) => {
              timer = setTimeout(() => resolve(false), listenProbeMs);
              timer.unref();
            }),
          ]).catch(() => false);
          clearTimeout(timer);
          if (current !== client) return;
          if (arrived) {
            onConnection?.(true);
            return;
          }
          // Notices do not reach this connection: dropped, and tried again later; until then whoever
          // listens is told that it may miss them.
          current = null;
          await client.end().catch(() => undefined);
          retryLater(listenRetryMs);
        })();
      };
      await connect();
      return async () => {
        stopped = true;
        if (retry !== null) clearTimeout(retry);
        const client = current;
        current = null;
        await client?.end().catch(() => undefined);
      };
    };
  } else {
    let pglite: PGlite;
    const parsers = Object.fromEntries(
      timestampOids.map((oid) => [oid, renderableStoredTime((text) => pgliteTypes.parsers[oid]?.(text))]),
    );
    if (options.dataDir === undefined) {
      pglite = await PGlite.create({ parsers, extensions: { pgcrypto } });
    } else {
      unlock = lockDataDir(options.dataDir);
      try {
        pglite = await PGlite.create(join(options.dataDir, 'pgdata'), { parsers, extensions: { pgcrypto } });
      } catch (error) {
        unlock();
        throw error;
      }
    }
    db = new Kysely<Database>({ dialect: pgliteDialect(pglite) });
    const embedded = pglite;
    listen = async (channel, onNotify, onConnection) => {
      const stop = await embedded.listen(channel, (payload) =>
        onNotify(openNotice(noticeKey, channel, payload)),
      );
      onConnection?.(true); // in this process: never lost
      return async () => stop();
    };
    try {
      await migrateToLatest(db as Kysely<unknown>);
      // PGlite is one session: after the migrations it runs as the application role for good.
      await sql.raw(`SET ROLE ${appRole}; SET search_path = ${storeSearchPath}`).execute(db);
    } catch (error) {
      await db.destroy();
      unlock();
      throw error;
    }
  }
  // What each open transaction has notified, handed to this process's listeners once it has committed.
  const pendingNotices = new WeakMap<object, [channel: string, payload: string | null][]>();
  const localListeners = new Map<string, Set<(payload: string | null) => void>>();
  const deliverLocally = (notices: readonly [string, string | null][]) => {
    for (const [channel, payload] of notices) {
      for (const onNotify of localListeners.get(channel) ?? []) {
        try {
          onNotify(payload);
        } catch {
          // a listener's failure is its own; the transaction has committed either way
        }
      }
    }
  };
  // BEGIN and the scope travel in one round trip. Every transaction names its role and, for a domain,
  // the domain (both transaction-local), so nothing a stray statement left on a pooled connection counts.
  const scoped = async <T>(
    setup: string,
    fn: (tx: Kysely<Database>) => Promise<T>,
    on: Kysely<Database> = db,
  ): Promise<T> =>
    on.connection().execute(async (conn) => {
      await sql.raw(seal(`BEGIN; ${setup}`)).execute(conn);
      const notices: [string, string | null][] = [];
      const deferred: string[] = [];
      pendingNotices.set(conn, notices);
      atCommit.set(conn, deferred);
      const rollback = () =>
        sql
          .raw('ROLLBACK')
          .execute(conn)
          .catch(() => undefined);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        await rollback();
        throw error;
      } finally {
        pendingNotices.delete(conn);
        atCommit.delete(conn);
      }
      try {
        // One message: if a deferred statement fails, the rest (COMMIT too) is skipped and the
        // transaction is left aborted, to be rolled back.
        await sql.raw([...deferred, 'COMMIT'].join('; ')).execute(conn);
      } catch (error) {
        if (deferred.length > 0) await rollback();
        throw error;
      }
      deliverLocally(notices);
      return result;
    });
  // Three statements, transaction-local (in a message of several statements too, which runs as one
  // implicit transaction). The role and the search path are utility statements, which skip the planner
  // and executor. The search path is pinned, with the temporary schema named last: otherwise it is
  // searched first, and a temporary table that injected SQL left on a pooled connection (or a
  // session-level SET of the path) would stand in for a real table in every later transaction there.
  // A domain is entered through `CALL scope_open` (migrations 0019, 0021), with a token signed for the
  // message that carries it (`seal`, just before it is sent) under the database's scope key, read at start:
  // any session may set the setting, but only a message the server signed gets a value the policies
  // accept. The system context sets the setting empty, which no policy of the application role accepts.
  const scopeTo = (role: string, scope: string) =>
    `SET LOCAL ROLE ${role}; SET LOCAL search_path = ${storeSearchPath}; ${scope}`;
  // How many results of a message those statements account for, before the queries' own.
  const scopeResults = 3;
  // Empty until read: a MAC under it is one no scope accepts.
  let scopeKey = Buffer.alloc(0);
  const seal = (message: string) => sealScope(scopeKey, message);
  const domainScope = (domainId: string) => scopeTo(appRole, enterScope(domainId));
  // Compiles the queries of `read`; running one through it is a programming error.
  const queries = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new CompileOnlyDriver(),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  }) as DomainQueries;
  // The statements `read` has prepared on each connection of either pool, by name. Off for
  // good once a prepared statement went missing: a pooler in transaction mode hands each message to
  // whichever server session is free, so nothing prepared can be counted on.
  const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();
  let prepareReads = true;
  const readInOneMessage = async (
    pool: pg.Pool,
    scope: string,
    compiled: readonly CompiledQuery[],
    literals: readonly (readonly string[])[],
    inlined: readonly string[],
  ): Promise<unknown[][]> => {
    const client = await pool.connect();
    let prepared = preparedOn.get(client);
    if (prepared === undefined) preparedOn.set(client, (prepared = new Set()));
    // Each query runs as a statement prepared on this connection (PREPARE travels with its first use),
    // so the server plans it once per connection instead of on every read; its parameters are written
    // as literals in the EXECUTE. A query the server would not prepare, or past the limit per connection,
    // travels with its parameters written into its text instead.
    const preparing = new Map<string, string>();
    let usesPrepared = false;
    const statements = compiled.map((q, i) => {
      const name = statementName(q.sql);
      if (!prepareReads || unpreparable.has(q.sql)) return inlined[i]!;
      if (!prepared.has(name) && !preparing.has(name)) {
        if (prepared.size + preparing.size >= maxPreparedPerConnection) return inlined[i]!;
        preparing.set(name, q.sql);
      }
      const args = literals[i]!;
      usesPrepared = true;
      return args.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${args.join(', ')})`;
    });
    const prepares = [...preparing].map(([name, text]) => `PREPARE ${name} AS ${text}`);
    let results: pg.QueryResult[];
    try {
      // Several statements in one simple-protocol message run as one transaction, which is rolled back
      // as a whole if one fails, so the connection goes back to the pool clean either way.
      // The scope goes first: a PREPARE resolves the tables it names under the search path it pins.
      results = (await client.query(
        seal([scope, ...prepares, ...statements].join('; ')),
      )) as unknown as pg.QueryResult[];
    } catch (error) {
      const code = error instanceof pg.DatabaseError ? (error.code ?? '') : null;
      // PREPARE outlives a failed message, so after one that prepared, which statements the connection
      // holds is no longer known: it is closed. So is one whose statement's result changed shape (a
      // migration altered a table under it), went missing or was there already.
      const known =
        code === planChanged || (code !== null && (sessionNotOwn.has(code) || typesUnsettled.has(code)));
      client.release(code !== null && preparing.size === 0 && !known ? undefined : (error as Error));
      if (code === null || !usesPrepared) throw error;
      if (sessionNotOwn.has(code)) {
        // Server sessions are shared behind this pool: nothing prepared can be counted on, from now on.
        prepareReads = false;
      } else if (typesUnsettled.has(code)) {
        if (unpreparable.size >= 4096) unpreparable.clear();
        for (const text of preparing.values()) unpreparable.add(text);
      }
      // Whatever else failed is tried once more with nothing prepared: a read changes nothing, so the
      // second try is safe, and an error of the query itself comes back from it unchanged.
      return readInlined(pool, scope, inlined);
    }
    client.release();
    for (const name of preparing.keys()) prepared.add(name);
    return results.slice(scopeResults + prepares.length).map((r) => r.rows as unknown[]);
  };
  // Sends `text` (several statements, no BEGIN) on a connection of `pool`. The server runs such a message
  // as one implicit transaction, committed at its end or rolled back whole if a statement fails, so the
  // connection goes back to the pool clean either way; one that failed otherwise is closed.
  const oneMessage = async (pool: pg.Pool, text: string): Promise<pg.QueryResult[]> => {
    const client = await pool.connect();
    try {
      const results = (await client.query(seal(text))) as unknown as pg.QueryResult[];
      client.release();
      return results;
    } catch (error) {
      client.release(error instanceof pg.DatabaseError ? undefined : (error as Error));
      throw error;
    }
  };
  // The same read with every query's parameters written into its text, nothing prepared.
  const readInlined = async (
    pool: pg.Pool,
    scope: string,
    inlined: readonly string[],
  ): Promise<unknown[][]> => {
    const results = await oneMessage(pool, `${scope}; ${inlined.join('; ')}`);
    return results.slice(scopeResults).map((r) => r.rows as unknown[]);
  };
  const systemScope = scopeTo(systemRole, `SET LOCAL ${scopeSetting} = ''`);
  // Where each kind of transaction runs: the application pool (the embedded database on PGlite), and the
  // system context's own pool when it has one, else the same.
  interface Door {
    readonly pool: pg.Pool | null;
    readonly db: Kysely<Database>;
  }
  const appDoor: Door = { pool: appPool, db };
  const systemDoorOrApp: Door = systemDoor ?? appDoor;
  // The queries of `read` or `systemRead`, under `scope`: in one message on PostgreSQL when every query's
  // parameters can be written as literals, otherwise in a transaction.
  const readScoped = async (
    door: Door,
    scope: string,
    build: () => readonly Compilable<unknown>[],
  ): Promise<unknown[][]> => {
    const compiled: CompiledQuery[] = build().map((q) => q.compile());
    // A SELECT, and none of its WITH queries a change (PostgreSQL allows those at the top level only).
    const selectOnly = (q: CompiledQuery) =>
      SelectQueryNode.is(q.query) &&
      (q.query.with?.expressions ?? []).every((cte) => SelectQueryNode.is(cte.expression));
    if (!compiled.every(selectOnly)) throw new TypeError('Store.read runs SELECT queries only');
    const literals = compiled.map((q) => parameterLiterals(q.parameters));
    const texts = compiled.map((q, i) => {
      const args = literals[i]!;
      return args === null ? null : inlineLiterals(q.sql, args);
    });
    if (door.pool !== null && texts.every((t) => t !== null)) {
      return readInOneMessage(door.pool, scope, compiled, literals as string[][], texts);
    }
    return scoped(
      scope,
      async (conn) => {
        const rows: unknown[][] = [];
        for (const q of compiled) rows.push((await conn.executeQuery(q)).rows);
        return rows;
      },
      door.db,
    );
  };
  // The statements `build` returns, then what it leaves for the commit, under `scope`: on PostgreSQL as
  // one message (one implicit transaction), otherwise in a transaction; nothing is sent when there is
  // nothing to run. `build` gets a compile-only handle of its own, so that what it defers is kept apart
  // from any other call's.
  const commitScoped = async (
    door: Door,
    scope: string,
    build: (db: Kysely<Database>) => readonly Compilable<unknown>[] | Promise<readonly Compilable<unknown>[]>,
  ): Promise<unknown[][]> => {
    const collector = queries.withoutPlugins();
    const deferred: string[] = [];
    atCommit.set(collector, deferred);
    let compiled: CompiledQuery[];
    try {
      compiled = (await build(collector)).map((q) => q.compile());
    } finally {
      atCommit.delete(collector);
    }
    if (compiled.length === 0 && deferred.length === 0) return [];
    const texts = compiled.map((q) => inlineParameters(q.sql, q.parameters));
    if (door.pool !== null && texts.every((t) => t !== null)) {
      const results = await oneMessage(door.pool, [scope, ...texts, ...deferred].join('; '));
      return results.slice(scopeResults, scopeResults + texts.length).map((r) => r.rows as unknown[]);
    }
    return scoped(
      scope,
      async (conn) => {
        const rows: unknown[][] = [];
        for (const q of compiled) rows.push((await conn.executeQuery(q)).rows);
        for (const text of deferred) await sql.raw(text).execute(conn);
        return rows;
      },
      door.db,
    );
  };
  try {
    await checkRoles(db);
    if (options.kind === 'postgres') await checkLogins(db, systemDoor?.db ?? null);
    // The key comes through the system context (its own login when there is one): the application
    // role may not read it.
    const keys = await scoped(
      systemScope,
      (tx) => sql<{ key: Uint8Array }>`SELECT key FROM scope_keys WHERE id = 1`.execute(tx),
      systemDoorOrApp.db,
    );
    const key = keys.rows[0]?.key;
    if (key === undefined)
      throw new StoreRolesError('The scope key (scope_keys) is missing: run the migrations.');
    scopeKey = Buffer.from(key);
  } catch (error) {
    await Promise.allSettled([db.destroy(), systemDoor?.db.destroy()]);
    unlock();
    throw refusedAtConnect(error);
  }
  let closed = false;
  const listening = new Set<() => Promise<void>>();
  return {
    kind: options.kind,
    sharedNoticeKey: options.noticeKey !== undefined,
    withDomain(domainId, fn) {
      // The id is inlined (so BEGIN and the scope are one round trip) only after this exact check.
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId)) {
        return Promise.reject(new BulkheadError('not_found'));
      }
      return scoped(domainScope(domainId), fn as (tx: Kysely<Database>) => Promise<never>);
    },
    read(domainId, build) {
      // The same check as withDomain's: the id is inlined only after it.
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId))
        return Promise.reject(new BulkheadError('not_found'));
      return readScoped(appDoor, domainScope(domainId), () => build(queries)) as never;
    },
    change(domainId, build) {
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId))
        return Promise.reject(new BulkheadError('not_found'));
      return commitScoped(appDoor, domainScope(domainId), (db) => build(db as DomainTx)) as never;
    },
    system(_purpose, fn) {
      return scoped(systemScope, fn as (tx: Kysely<Database>) => Promise<never>, systemDoorOrApp.db);
    },
    async systemCommit(_purpose, fn) {
      await commitScoped(systemDoorOrApp, systemScope, async (db) => {
        await fn(db as SystemTx);
        return [];
      });
    },
    systemRead(_purpose, build) {
      return readScoped(systemDoorOrApp, systemScope, () =>
        build(queries as unknown as SystemQueries),
      ) as never;
    },
    async ping() {
      await sql`SELECT 1`.execute(db);
      if (systemDoor !== null) await sql`SELECT 1`.execute(systemDoor.db);
    },
    async notify(tx, channel, payload) {
      const sealed = sealNotice(noticeKey, channel, payload);
      await sql`SELECT pg_notify(${channel}, ${sealed})`.execute(tx);
      // This process's listeners get what the database's copy will bring: bare if it had to be.
      pendingNotices.get(tx)?.push([channel, sealed === '' ? null : payload]);
    },
    async listen(channel, onNotify, options = {}) {
      const stop = await listen(channel, onNotify, options.onConnection);
      const local = (payload: string | null) => onNotify(payload);
      if (options.ownCommits === true) {
        let set = localListeners.get(channel);
        if (set === undefined) localListeners.set(channel, (set = new Set()));
        set.add(local);
      }
      const unlisten = async () => {
        listening.delete(unlisten);
        localListeners.get(channel)?.delete(local);
        await stop();
      };
      listening.add(unlisten);
      return unlisten;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...listening].map((unlisten) => unlisten()));
      await Promise.all([db.destroy(), systemDoor?.db.destroy()]);
      unlock();
    },
  };
}
