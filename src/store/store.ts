// The control-plane store: Kysely over an embedded PGlite (a data directory, the default) or a
// PostgreSQL server. Both run the same migrations and the same code above this file.
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, rmSync, constants } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.js';
import { openNotice, randomNoticeKey, sealNotice } from './notices.js';
import { pgliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';

export type StoreKind = 'pglite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

export interface Store {
  readonly kind: StoreKind;
  readonly db: Db;
  /** Runs `fn` in one transaction; everything it writes (including audit events) commits or not at all. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
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
export async function openStore(options: StoreOptions): Promise<Store> {
  let db: Db;
  let unlock = () => {};
  let listen: Store['listen'];
  const noticeKey = options.noticeKey ?? randomNoticeKey();
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
          oid === 20
            ? int8AsNumber
            : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection the server drops (restart, failover, a terminated backend) must not crash the
    // process; the pool replaces it on the next checkout.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
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
  }
  try {
    await migrateToLatest(db as Kysely<unknown>);
  } catch (error) {
    await db.destroy();
    unlock();
    throw error;
  }
  let closed = false;
  return {
    kind: options.kind,
    db,
    transaction: (fn) => db.transaction().execute(fn),
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
