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
//
// This file is the doors and their scopes. Where they run is `connect.ts` (pools or PGlite, the
// migrations, `postgres-listen.ts` for notices); messages of several statements are `one-message.ts`;
// the checks of roles and logins before serving are `roles.ts`.
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SelectQueryNode,
  sql,
  type Compilable,
  type CompiledQuery,
} from 'kysely';
import { BulkheadError } from '../errors.js';
import { traced } from '../telemetry/tracing.js';
import { inlineLiterals, inlineParameters, parameterLiterals } from './inline.js';
import { enterGuard, guarded, type GuardedTransaction } from './item-guard.js';
import { appRole, systemRole } from './migrations.js';
import { connectPostgres, openEmbedded, storeSearchPath, type Door, type StoreOptions } from './connect.js';
import { randomNoticeKey, sealNotice } from './notices.js';
import { OneMessage } from './one-message.js';
import { checkLogins, checkRoles, refusedAtConnect, StoreRolesError } from './roles.js';
import { enterScope, scopeSetting, sealScope } from './scope.js';
import type { Database } from './schema.js';

export { DataDirLockedError } from './data-dir-lock.js';
export { embeddedImage, storeSearchPath, type StoreOptions } from './connect.js';
export { StoreRolesError } from './roles.js';

export type StoreKind = 'pglite' | 'postgres';

// Statements each open transaction has left for its COMMIT, which carries them in the same message.
const atCommit = new WeakMap<object, string[]>();
// The observer of the store each open transaction belongs to (read when a timing is reported).
const observerOf = new WeakMap<object, () => StoreObserver | null>();

/** What the store reports of its own work, for metrics; set by the assembly (`Store.observer`). */
export interface StoreObserver {
  /** Audit events (and other statements left for the commit) written: with the commit, or at once. */
  auditAppend(path: 'commit' | 'immediate', seconds: number): void;
}

/** Reports statements of `tx`'s audit event that ran at once, taking `seconds`, to its store's observer. */
export function observeImmediateAudit(tx: Tx, seconds: number): void {
  observerOf.get(tx)?.()?.auditAppend('immediate', seconds);
}

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
/**
 * Leaves `query` for the commit of `tx` (`deferToCommit`), or runs it now when it cannot wait; answers
 * whether it waits. Statements that depend on one another must all wait or all run now, in order.
 */
export async function deferOrRun(tx: Tx, query: Compilable<unknown>): Promise<boolean> {
  const compiled = query.compile();
  if (deferToCommit(tx, compiled)) return true;
  await tx.executeQuery(compiled);
  return false;
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
  /** Receives the store's timings; null: nobody listens. */
  observer: StoreObserver | null;
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

/**
 * Opens the store and brings its schema up to date.
 *
 * @example
 * const store = await openStore({ kind: 'pglite', dataDir: '.bulkhead' });
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const noticeKey = options.noticeKey ?? randomNoticeKey();
  const { db, appPool, systemDoor, listen, unlock } =
    options.kind === 'postgres'
      ? await connectPostgres(options, noticeKey)
      : await openEmbedded(options.dataDir, noticeKey, options.image);
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
  let observer: StoreObserver | null = null;
  const currentObserver = () => observer;
  // The message that carried statements left for the commit (audit events, mostly) took this long.
  const reportCommit = (started: number) =>
    observer?.auditAppend('commit', (performance.now() - started) / 1000);
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
      observerOf.set(conn, currentObserver);
      const rollback = () =>
        sql
          .raw('ROLLBACK')
          .execute(conn)
          .catch(() => undefined);
      let result: T;
      // A change under an item's guard (If-Match) locks the item and checks it first (item-guard.ts).
      let guard: GuardedTransaction | null = null;
      const leaveGuard = () => guard?.leave();
      try {
        if (options.kind === 'postgres') guard = await enterGuard(conn as Kysely<never>);
        result = await fn(conn);
        await guard?.beforeCommit();
      } catch (error) {
        leaveGuard();
        await rollback();
        throw error;
      } finally {
        pendingNotices.delete(conn);
        atCommit.delete(conn);
        observerOf.delete(conn);
      }
      try {
        // One message: if a deferred statement fails, the rest (COMMIT too) is skipped and the
        // transaction is left aborted, to be rolled back.
        const started = performance.now();
        await sql.raw([...deferred, 'COMMIT'].join('; ')).execute(conn);
        if (deferred.length > 0) reportCommit(started);
      } catch (error) {
        if (deferred.length > 0) await rollback();
        throw error;
      } finally {
        leaveGuard();
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
  const messages = new OneMessage(seal, scopeResults);
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
  const systemScope = scopeTo(systemRole, `SET LOCAL ${scopeSetting} = ''`);
  // Where each kind of transaction runs: the application pool (the embedded database on PGlite), and the
  // system context's own pool when it has one, else the same.
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
    // Under an item's guard the change runs as a transaction, so the lock and the check come first.
    if (door.pool !== null && texts.every((t) => t !== null) && !(options.kind === 'postgres' && guarded())) {
      return messages.read(door.pool, scope, compiled, literals as string[][], texts);
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
    // Under an item's guard the change runs as a transaction, so the lock and the check come first.
    if (door.pool !== null && texts.every((t) => t !== null) && !(options.kind === 'postgres' && guarded())) {
      const started = performance.now();
      const results = await messages.send(door.pool, [scope, ...texts, ...deferred].join('; '));
      if (deferred.length > 0) reportCommit(started);
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
  // Each transaction is a span of the request's trace (when tracing is on), named after its door.
  const attributes = (door: string, purpose?: string) => ({
    'db.system': 'postgresql',
    'bulkhead.store.kind': options.kind,
    'bulkhead.store.door': door,
    ...(purpose === undefined ? {} : { 'bulkhead.store.purpose': purpose }),
  });
  return {
    kind: options.kind,
    sharedNoticeKey: options.noticeKey !== undefined,
    get observer() {
      return observer;
    },
    set observer(value) {
      observer = value;
    },
    withDomain(domainId, fn) {
      // The id is inlined (so BEGIN and the scope are one round trip) only after this exact check.
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId)) {
        return Promise.reject(new BulkheadError('not_found'));
      }
      return traced('store.withDomain', attributes('withDomain'), () =>
        scoped(domainScope(domainId), fn as (tx: Kysely<Database>) => Promise<never>),
      );
    },
    read(domainId, build) {
      // The same check as withDomain's: the id is inlined only after it.
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId))
        return Promise.reject(new BulkheadError('not_found'));
      return traced('store.read', attributes('read'), () =>
        readScoped(appDoor, domainScope(domainId), () => build(queries)),
      ) as never;
    },
    change(domainId, build) {
      if (typeof domainId !== 'string' || !domainIdPattern.test(domainId))
        return Promise.reject(new BulkheadError('not_found'));
      return traced('store.change', attributes('change'), () =>
        commitScoped(appDoor, domainScope(domainId), (db) => build(db as DomainTx)),
      ) as never;
    },
    system(purpose, fn) {
      return traced('store.system', attributes('system', purpose), () =>
        scoped(systemScope, fn as (tx: Kysely<Database>) => Promise<never>, systemDoorOrApp.db),
      );
    },
    async systemCommit(purpose, fn) {
      await traced('store.systemCommit', attributes('systemCommit', purpose), () =>
        commitScoped(systemDoorOrApp, systemScope, async (db) => {
          await fn(db as SystemTx);
          return [];
        }),
      );
    },
    systemRead(purpose, build) {
      return traced('store.systemRead', attributes('systemRead', purpose), () =>
        readScoped(systemDoorOrApp, systemScope, () => build(queries as unknown as SystemQueries)),
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
