// Whether the server asks a role for its password at login. Tenant role names are made of ids, which are
// not secret, so on a server that trusts the connection instead (`trust` in pg_hba.conf) any tenant could
// log in as any other, and the provider hands out no credentials there. The check logs in from this
// process, as the admin URL reaches the server, as a throwaway role with a wrong password.
import { randomBytes } from 'node:crypto';
import { connectAs, sqlState, type Queryable } from './postgres-driver.js';
import { serverAddress } from './postgres-options.js';
import { newPassword, scramVerifier } from './postgres-password.js';
import { ident, literal } from './postgres-sql.js';

/** Roles the check makes are named with this, then 16 hex digits; a crashed check's role expires in a minute. */
export const LOGIN_CHECK_ROLE_PREFIX = 'bulkhead_login_check_';
const CHECK_ROLE_LIFETIME_MS = 60_000;

// invalid_password: the server checked the password; invalid_authorization_specification: no pg_hba.conf
// line lets the role in from here at all (`reject`, or none), which lets no tenant in either.
const REFUSED_AT_LOGIN = new Set(['28P01', '28000']);

/** The server, database and port the admin URL names, for logging in there as another role. */
function target(adminUrl: string): { host: string; port: number; database: string } {
  const url = new URL(adminUrl);
  const { host, port } = serverAddress(url);
  return {
    host: host ?? 'localhost',
    port,
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
  };
}

/**
 * True when a login role is refused with a wrong password; false when it gets in (or past authentication,
 * refused only afterwards, for example for want of CONNECT). Throws when the attempt could not be made.
 *
 * @example
 * if (!(await loginNeedsPassword(adminUrl, admin))) throw new Error('pg_hba.conf trusts tenant logins');
 */
export async function loginNeedsPassword(adminUrl: string, admin: Queryable): Promise<boolean> {
  const { rows: stale } = await admin.query<{ name: string }>(
    `SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1) AND rolvaliduntil < now()`,
    [LOGIN_CHECK_ROLE_PREFIX],
  );
  for (const { name } of stale) await admin.query(`DROP ROLE IF EXISTS ${ident(name)}`);

  const role = `${LOGIN_CHECK_ROLE_PREFIX}${randomBytes(8).toString('hex')}`;
  const until = new Date(Date.now() + CHECK_ROLE_LIFETIME_MS).toISOString();
  await admin.query(
    `CREATE ROLE ${ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION ` +
      `NOBYPASSRLS CONNECTION LIMIT 1 PASSWORD ${literal(await scramVerifier(newPassword()))} ` +
      `VALID UNTIL ${literal(until)}`,
  );
  try {
    const session = await connectAs({ ...target(adminUrl), user: role, password: newPassword() });
    await session.end();
    return false;
  } catch (error) {
    const state = sqlState(error);
    if (state === undefined) throw error;
    return REFUSED_AT_LOGIN.has(state);
  } finally {
    await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`);
  }
}
