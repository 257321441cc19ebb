// Where a store's transactions run: the pools of a PostgreSQL server (the application role's, and the
// system context's own when it has a login of its own), or an embedded PGlite database in a data
// directory of this process. Either way the schema is brought up to date before anything else runs.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.js';
import { appRole, migrateToLatest, systemRole } from './migrations.js';
import { openNotice } from './notices.js';
import { pgliteDialect } from './pglite-dialect.js';
import { postgresListen, type Listen } from './postgres-listen.js';
import type { Database } from './schema.js';
import { int8AsNumber, renderableStoredTime, timestampOids } from './type-parsers.js';

/** Where the server's transactions look for tables: Bulkhead's schema, and temporary tables only after it. */
export const storeSearchPath = 'public, pg_temp';

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
  | {
      kind: 'pglite';
      dataDir?: string;
      /**
       * For a store in memory: the database to start from, an image `embeddedImage()` made, rather than
       * an empty one (creating a PGlite database and migrating it costs seconds of CPU; loading an image,
       * half a second). It is migrated as usual, and given a scope key of its own.
       */
      image?: Blob;
    }
) & {
  /**
   * Seals notification payloads (see `deriveNoticeKey`); every process sharing a PostgreSQL store needs
   * the same one to read the others' payloads. Default: a random key, so this process reads only its own
   * and treats the others' notices as bare.
   */
  noticeKey?: Buffer;
};

/** A pool and the Kysely instance over it. */
export interface Door {
  readonly pool: pg.Pool | null;
  readonly db: Kysely<Database>;
}

export interface Connections {
  /** The application role's transactions (the embedded database on PGlite). */
  readonly db: Kysely<Database>;
  /** The application pool on PostgreSQL, for messages of several statements (null on PGlite). */
  readonly appPool: pg.Pool | null;
  /** The system context's own pool, when it logs in as a login of its own (PostgreSQL, `systemUrl`). */
  readonly systemDoor: { pool: pg.Pool; db: Kysely<Database> } | null;
  readonly listen: Listen;
  /** Releases the data directory's lock (PGlite); a no-op on PostgreSQL. */
  readonly unlock: () => void;
}

type PostgresOptions = Extract<StoreOptions, { kind: 'postgres' }>;

/** Migrates the PostgreSQL store as its owner, then opens the pools its transactions run on. */
export async function connectPostgres(options: PostgresOptions, noticeKey: Buffer): Promise<Connections> {
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
  let systemDoor: Connections['systemDoor'] = null;
  if (options.systemUrl !== undefined) {
    const system = poolOf(options.poolSize ?? 10, systemRole, options.systemUrl);
    systemDoor = { pool: system.pool, db: system.kysely };
  }
  return {
    db: app.kysely,
    appPool: app.pool,
    systemDoor,
    listen: postgresListen(options.sessionUrl ?? options.url, app.pool, noticeKey),
    unlock: () => {},
  };
}

/**
 * A migrated empty embedded database as an image (PGlite's `dumpDataDir`), for in-memory stores to start
 * from (`image`): what a test suite makes once and opens many stores from.
 */
export async function embeddedImage(): Promise<Blob> {
  const pglite = await PGlite.create({ extensions: { pgcrypto } });
  const db = new Kysely<Database>({ dialect: pgliteDialect(pglite) });
  try {
    await migrateToLatest(db as Kysely<unknown>);
    return await pglite.dumpDataDir('none');
  } finally {
    await db.destroy();
  }
}

/** Opens (or creates) the embedded database, in memory when `dataDir` is undefined, and migrates it. */
export async function openEmbedded(
  dataDir: string | undefined,
  noticeKey: Buffer,
  image?: Blob,
): Promise<Connections> {
  let unlock = () => {};
  let pglite: PGlite;
  const parsers = Object.fromEntries(
    timestampOids.map((oid) => [oid, renderableStoredTime((text) => pgliteTypes.parsers[oid]?.(text))]),
  );
  if (dataDir === undefined) {
    const from = image === undefined ? {} : { loadDataDir: image };
    pglite = await PGlite.create({ parsers, extensions: { pgcrypto }, ...from });
  } else {
    unlock = lockDataDir(dataDir);
    try {
      pglite = await PGlite.create(join(dataDir, 'pgdata'), { parsers, extensions: { pgcrypto } });
    } catch (error) {
      unlock();
      throw error;
    }
  }
  const db = new Kysely<Database>({ dialect: pgliteDialect(pglite) });
  const embedded = pglite;
  const listen: Listen = async (channel, onNotify, onConnection) => {
    const stop = await embedded.listen(channel, (payload) =>
      onNotify(openNotice(noticeKey, channel, payload)),
    );
    onConnection?.(true); // in this process: never lost
    return async () => stop();
  };
  try {
    await migrateToLatest(db as Kysely<unknown>);
    // Stores opened from one image would otherwise share the key that seals their scopes.
    if (dataDir === undefined && image !== undefined) {
      await sql`UPDATE scope_keys SET key = ${randomBytes(32)}, created_at = now()`.execute(db);
    }
    // PGlite is one session: after the migrations it runs as the application role for good.
    await sql.raw(`SET ROLE ${appRole}; SET search_path = ${storeSearchPath}`).execute(db);
  } catch (error) {
    await db.destroy();
    unlock();
    throw error;
  }
  return { db, appPool: null, systemDoor: null, listen, unlock };
}
