// The PostgreSQL provider on a real server: per resource, one login role and either its own database
// (database mode) or its own schema in one shared database (schema mode), with nothing granted to PUBLIC
// on either. Assumes a superuser admin URL and PostgreSQL 14 or later (pg_terminate_backend's timeout).
import type * as contract from '../provider.js';
import { backendName, ProviderError, refFromBackendName } from '../provider.js';
import {
  adminSession,
  inDatabase,
  openAdminPool,
  sqlState,
  SQLSTATE,
  withDatabase,
  type AdminPool,
  type Queryable,
} from './postgres-driver.js';
import { loginNeedsPassword } from './postgres-login-check.js';
import type { ServerSettings } from './postgres-options.js';
import { newPassword, scramVerifier } from './postgres-password.js';
import { probeServerIsolation } from './postgres-probe.js';
import { doBlock, ident, ifRoleExists, literal, upsertRoleSql } from './postgres-sql.js';

// How long delete() waits for each of a tenant's sessions to end before it gives up and lets the
// reconciler try again: a session that outlives this is stuck in something we should not paper over.
const TERMINATE_WAIT_MS = 5_000;
// Every schema-mode create and delete rewrites the one pg_database row of the shared database (its ACL),
// and PostgreSQL fails a concurrent second writer with "tuple concurrently updated" instead of waiting.
// This transaction-scoped advisory lock, taken in the shared database, makes them wait their turn.
const SHARED_ACL_LOCK = 'SELECT pg_advisory_xact_lock(8213004711650281)';

/** Builds a postgres:// URL a tenant can paste anywhere: every part percent-encoded. */
export function connectionUrl(c: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}): string {
  // A socket directory is written percent-encoded in the host position, as libpq and pg both read it.
  const host = c.host.startsWith('/')
    ? encodeURIComponent(c.host)
    : c.host.includes(':')
      ? `[${c.host}]`
      : c.host;
  const user = encodeURIComponent(c.user);
  const password = encodeURIComponent(c.password);
  return `postgres://${user}:${password}@${host}:${c.port}/${encodeURIComponent(c.database)}`;
}

/** CREATE DATABASE, which cannot run in a transaction; losing a race to a concurrent create is fine. */
async function createDatabase(admin: Queryable, statement: string): Promise<void> {
  try {
    await admin.query(statement);
  } catch (error) {
    if (sqlState(error) !== SQLSTATE.duplicateDatabase) throw error;
  }
}

/** Retries once when a concurrent create made the same role between our check and our CREATE ROLE. */
async function withRoleRace<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const state = sqlState(error);
    if (state !== SQLSTATE.duplicateObject && state !== SQLSTATE.uniqueViolation) throw error;
    return fn();
  }
}

/** What inspect reads of a resource's login role and its home: its schema, or its database. */
interface InspectRow {
  role_exists: boolean;
  can_login: boolean | null;
  home_exists: boolean;
  bytes: string | null;
}

/** Inspect in schema mode, on the shared database: the bytes of the schema's tables. */
const INSPECT_SCHEMA = `
  SELECT r.oid IS NOT NULL AS role_exists, r.rolcanlogin AS can_login, n.oid IS NOT NULL AS home_exists,
         (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'p')) AS bytes
    FROM (SELECT $1::name AS name) x
    LEFT JOIN pg_roles r ON r.rolname = x.name
    LEFT JOIN pg_namespace n ON n.nspname = x.name`;

/** Inspect in database mode, as the admin: the database's size. */
const INSPECT_DATABASE = `
  SELECT r.oid IS NOT NULL AS role_exists, r.rolcanlogin AS can_login, d.oid IS NOT NULL AS home_exists,
         pg_database_size(d.oid) AS bytes
    FROM (SELECT $1::name AS name) x
    LEFT JOIN pg_roles r ON r.rolname = x.name
    LEFT JOIN pg_database d ON d.datname = x.name`;

export class PostgresServerProvider implements contract.Provider {
  readonly kind = 'postgres' as const;
  readonly capabilities = { objects: false } as const;
  readonly backend: contract.BackendIdentity;
  private readonly admin: AdminPool;
  private shared: Promise<AdminPool> | undefined;
  /** The login check, once it passed; a failed one is made again on the next call (pg_hba.conf may be fixed). */
  private loginChecked: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly s: ServerSettings) {
    this.admin = openAdminPool(s.adminUrl);
    // The mode is part of where a resource lives: a schema-mode server never looks for a database.
    this.backend = {
      type: 'postgres-server',
      location:
        s.mode === 'schema'
          ? `${s.address}/${s.sharedDatabase} (schema mode)`
          : `${s.address} (database mode)`,
    };
  }

  async create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    await this.refusePasswordlessLogin();
    const name = backendName(ref);
    const password = newPassword();
    const role = upsertRoleSql(name, await scramVerifier(password), this.s.connectionLimit);
    if (this.s.mode === 'schema') {
      const shared = await this.sharedPool();
      // One round trip: a multi-statement text runs as one implicit transaction, so it all lands or none.
      await withRoleRace(() =>
        shared.query(
          [
            SHARED_ACL_LOCK,
            role,
            `CREATE SCHEMA IF NOT EXISTS ${ident(name)} AUTHORIZATION ${ident(name)}`,
            // A schema of that name made some other way (by hand, by a restore) becomes the role's.
            `ALTER SCHEMA ${ident(name)} OWNER TO ${ident(name)}`,
            `REVOKE ALL ON SCHEMA ${ident(name)} FROM PUBLIC`,
            `GRANT CONNECT ON DATABASE ${ident(this.s.sharedDatabase)} TO ${ident(name)}`,
            `ALTER ROLE ${ident(name)} SET search_path = ${ident(name)}`,
          ].join(';\n'),
        ),
      );
      return this.credentialsFor(name, password, this.s.sharedDatabase);
    }

    const { rows } = await withRoleRace(() =>
      this.admin.query<{ exists: boolean }>(
        `${role};\nSELECT EXISTS (SELECT FROM pg_database WHERE datname = ${literal(name)}) AS exists`,
      ),
    );
    if (rows[0]?.exists !== true) {
      // Created closed to connections: a new database grants CONNECT to PUBLIC until the REVOKE below,
      // and a session that slipped in during that gap would keep its connection afterwards. From
      // template0, which nobody can connect to: CREATE DATABASE fails while anyone is connected to its
      // template, and every role may connect to template1, so one tenant could stop all provisioning.
      await createDatabase(
        this.admin,
        `CREATE DATABASE ${ident(name)} OWNER ${ident(name)} TEMPLATE template0 ALLOW_CONNECTIONS false`,
      );
    }
    await this.admin.query(
      [
        `ALTER DATABASE ${ident(name)} OWNER TO ${ident(name)}`,
        `REVOKE ALL ON DATABASE ${ident(name)} FROM PUBLIC`,
        `GRANT CONNECT, TEMPORARY ON DATABASE ${ident(name)} TO ${ident(name)}`,
        `ALTER DATABASE ${ident(name)} ALLOW_CONNECTIONS true`,
      ].join(';\n'),
    );
    await inDatabase(this.s.adminUrl, name, (db) =>
      db.query(
        doBlock(
          // The tenant owns its public schema (so it can use it without the PUBLIC grants we remove);
          // a tenant that dropped it on a re-create keeps it dropped.
          `IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') THEN ` +
            `REVOKE ALL ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO ${ident(name)}; END IF;`,
        ),
      ),
    );
    return this.credentialsFor(name, password, name);
  }

  async inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    const name = backendName(ref);
    const schemaMode = this.s.mode === 'schema';
    const pool = schemaMode ? await this.sharedPool() : this.admin;
    const { rows } = await pool.query<InspectRow>(schemaMode ? INSPECT_SCHEMA : INSPECT_DATABASE, [name]);
    const row = rows[0]!;
    const role = { role: name, roleExists: row.role_exists, canLogin: row.can_login };
    return {
      exists: row.role_exists && row.home_exists,
      details: schemaMode
        ? {
            mode: 'schema',
            ...role,
            database: this.s.sharedDatabase,
            schema: name,
            schemaExists: row.home_exists,
            bytes: row.home_exists ? Number(row.bytes ?? 0) : null,
          }
        : {
            mode: 'database',
            ...role,
            database: name,
            databaseExists: row.home_exists,
            bytes: row.bytes === null ? null : Number(row.bytes),
          },
    };
  }

  async delete(ref: contract.ResourceRef): Promise<void> {
    const name = backendName(ref);
    // Overlapping deletes of one resource (another server's, a retry after a crash, the reconciler) run
    // one after the other: run together, the server refuses one with "tuple concurrently deleted" or
    // "role does not exist". The lock is a session's, on a connection of its own, so it ends with this
    // process if it dies; a statement the dead process left running holds it until that statement ends.
    // Every step below is written to find its work done already, so the second delete finds nothing left.
    const lock = await adminSession(this.s.adminUrl);
    try {
      await lock.query(`SELECT pg_advisory_lock(hashtextextended(${literal(`bulkhead.delete:${name}`)}, 0))`);
      await this.deleteLocked(name);
    } finally {
      await lock.end();
    }
  }

  private async deleteLocked(name: string): Promise<void> {
    const schemaMode = this.s.mode === 'schema';
    const database = schemaMode ? this.s.sharedDatabase : name;
    // Schema mode may create the (empty) shared database here; it is needed for anything else anyway.
    const home = schemaMode ? await this.sharedPool() : this.admin;
    // First nothing new gets in; NOLOGIN must commit before the sessions are ended, or one could log in
    // between the two.
    const lockOut = doBlock(
      `IF EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(name)}) THEN ` +
        `ALTER ROLE ${ident(name)} NOLOGIN; ` +
        `IF EXISTS (SELECT FROM pg_database WHERE datname = ${literal(database)}) THEN ` +
        `REVOKE CONNECT ON DATABASE ${ident(database)} FROM ${ident(name)}; END IF; END IF;`,
    );
    await home.query(schemaMode ? `${SHARED_ACL_LOCK};\n${lockOut}` : lockOut);
    await this.terminate(name);
    if (schemaMode) {
      await home.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`);
    } else {
      await this.admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    }
    // Whatever else the role owns or was granted, in any database: pg_shdepend is the server's own record.
    const { rows } = await this.admin.query<{ datname: string }>(
      `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.refclassid = 'pg_authid'::regclass AND d.datallowconn AND d.datname <> current_database()
          AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
      [name],
    );
    for (const { datname } of rows) {
      await inDatabase(this.s.adminUrl, datname, (db) =>
        db.query(ifRoleExists(name, `DROP OWNED BY ${ident(name)};`)),
      );
    }
    // DROP OWNED here also revokes its privileges on shared objects (databases); a last terminate
    // catches a session that finished logging in just before NOLOGIN committed.
    await this.admin.query(
      ifRoleExists(
        name,
        `PERFORM pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}) FROM pg_stat_activity WHERE usename = ${literal(name)}; ` +
          `DROP OWNED BY ${ident(name)}; DROP ROLE ${ident(name)};`,
      ),
    );
  }

  async credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    await this.refusePasswordlessLogin();
    const name = backendName(ref);
    const password = newPassword();
    try {
      await this.admin.query(
        `ALTER ROLE ${ident(name)} WITH PASSWORD ${literal(await scramVerifier(password))}`,
      );
    } catch (error) {
      if (sqlState(error) === SQLSTATE.undefinedObject) {
        throw new ProviderError('postgres', 'not_found', `role ${name} does not exist`, { cause: error });
      }
      throw error;
    }
    return this.credentialsFor(name, password, this.s.mode === 'schema' ? this.s.sharedDatabase : name);
  }

  probeIsolation(a: contract.ProbeSide, b: contract.ProbeSide): Promise<contract.ProbeReport> {
    return probeServerIsolation(this.s.mode, a, b);
  }

  async listOwned(): Promise<contract.OwnedObject[]> {
    // A resource's role and its database or schema share one name; each name is listed once, since
    // delete() removes all of them together.
    const pattern = `^bh_[0-9a-z]{26}_[0-9a-z]{26}$`;
    const { rows } =
      this.s.mode === 'schema'
        ? await (
            await this.sharedPool()
          ).query<{ name: string }>(
            `SELECT rolname AS name FROM pg_roles WHERE rolname ~ $1
             UNION SELECT nspname FROM pg_namespace WHERE nspname ~ $1 ORDER BY 1`,
            [pattern],
          )
        : await this.admin.query<{ name: string }>(
            `SELECT rolname AS name FROM pg_roles WHERE rolname ~ $1
             UNION SELECT datname FROM pg_database WHERE datname ~ $1 ORDER BY 1`,
            [pattern],
          );
    const owned: contract.OwnedObject[] = [];
    for (const { name } of rows) {
      const ref = refFromBackendName(name);
      if (ref !== null) owned.push({ ref, name });
    }
    return owned;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const shared = await this.shared?.catch(() => undefined);
    await Promise.all([this.admin.end(), shared?.end()]);
  }

  /**
   * Role names are not secret, so a password is all that keeps one tenant out of another's role: on a
   * server that lets a role in without it, no credentials are handed out, unless the operator said this
   * server is for development.
   */
  private refusePasswordlessLogin(): Promise<void> {
    if (this.s.allowPasswordlessLogin) return Promise.resolve();
    const check = (this.loginChecked ??= loginNeedsPassword(this.s.adminUrl, this.admin).then(
      async (needed) => {
        if (needed) return;
        throw new ProviderError(
          'postgres',
          'unsafe_server',
          `the PostgreSQL server at ${this.s.address} lets a role log in without its password ` +
            '(pg_hba.conf trusts the connection), so any tenant could log in as another',
          { hint: await this.passwordRuleHint() },
        );
      },
    ));
    return check.catch((error: unknown) => {
      if (this.loginChecked === check) this.loginChecked = undefined;
      throw error;
    });
  }

  /**
   * The pg_hba.conf line that makes tenant roles give their password from where Bulkhead connects: the
   * address the server sees this process at (a Unix socket has none).
   */
  private async passwordRuleHint(): Promise<string> {
    const { rows } = await this.admin.query<{ addr: string | null; family: number | null }>(
      'SELECT host(inet_client_addr()) AS addr, family(inet_client_addr()) AS family',
    );
    const { addr, family } = rows[0] ?? { addr: null, family: null };
    const line =
      addr === null
        ? 'local all all scram-sha-256'
        : `host all all ${addr}/${family === 6 ? 128 : 32} scram-sha-256`;
    return (
      `add "${line}" to pg_hba.conf after the line that lets the admin in and before any line that ` +
      'trusts that address, then reload it (SELECT pg_reload_conf()) and create again'
    );
  }

  private credentialsFor(user: string, password: string, database: string): contract.Credentials {
    const { publicHost: host, publicPort: port } = this.s;
    return {
      host,
      port,
      database,
      user,
      password,
      url: connectionUrl({ host, port, user, password, database }),
      ...(this.s.mode === 'schema' ? { schema: user } : {}),
    };
  }

  /** Ends every session of a role, waiting for each to be gone. */
  private async terminate(role: string): Promise<void> {
    const { rows } = await this.admin.query<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}) AS ended FROM pg_stat_activity
        WHERE usename = $1 AND pid <> pg_backend_pid()`,
      [role],
    );
    if (rows.some((row) => !row.ended)) {
      throw new Error(
        `a session of ${role} did not end within ${TERMINATE_WAIT_MS} ms; try the delete again`,
      );
    }
  }

  /** The admin pool on the shared database of schema mode, made ready once per provider. */
  private sharedPool(): Promise<AdminPool> {
    if (this.closed) return Promise.reject(new Error('the postgres provider is closed'));
    this.shared ??= this.prepareShared().catch((error: unknown) => {
      this.shared = undefined; // the next call tries again rather than failing forever
      throw error;
    });
    return this.shared;
  }

  private async prepareShared(): Promise<AdminPool> {
    const name = this.s.sharedDatabase;
    const { rows } = await this.admin.query('SELECT FROM pg_database WHERE datname = $1', [name]);
    if (rows.length === 0) {
      await createDatabase(
        this.admin,
        `CREATE DATABASE ${ident(name)} TEMPLATE template0 ALLOW_CONNECTIONS false`,
      );
    }
    await this.admin.query(
      `REVOKE ALL ON DATABASE ${ident(name)} FROM PUBLIC;\nALTER DATABASE ${ident(name)} ALLOW_CONNECTIONS true`,
    );
    const pool = openAdminPool(withDatabase(this.s.adminUrl, name));
    try {
      // Tenants share this database: its public schema must be nobody's common ground.
      await pool.query(
        doBlock(
          `IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') THEN REVOKE ALL ON SCHEMA public FROM PUBLIC; END IF;`,
        ),
      );
    } catch (error) {
      await pool.end();
      throw error;
    }
    return pool;
  }
}
