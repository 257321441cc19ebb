// The checks a store makes before it serves: that the database's roles and the logins it was given keep
// domains apart (the application role can neither bypass row-level security nor reach the system role
// or the scope key), and what a refusal at connect means in terms of the settings that name the logins.
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { appRole, systemRole } from './migrations.js';
import { scopeSetting } from './scope.js';
import type { Database } from './schema.js';

/** Thrown when the database's roles, or the logins the store was given, would not keep domains apart. */
export class StoreRolesError extends Error {
  override readonly name = 'StoreRolesError';
}

/**
 * Refuses to serve when the roles the isolation rests on were widened after the migrations: the
 * application role must not bypass row-level security, inherit the system role's policies nor be a
 * member of it.
 */
export async function checkRoles(db: Kysely<Database>): Promise<void> {
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
export async function checkLogins(app: Kysely<Database>, system: Kysely<Database> | null): Promise<void> {
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
export function refusedAtConnect(error: unknown): unknown {
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
