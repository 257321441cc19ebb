// SQL text for the provider's administrative statements. Every identifier goes through ident() and
// every value through literal(), so nothing a caller or the server hands us is ever spliced in raw —
// even though backend names are safe by construction and passwords only ever travel as SCRAM verifiers.
import pg from 'pg';

/** A double-quoted identifier. */
export function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

/** A quoted string literal (E'…' when it holds a backslash). */
export function literal(value: string): string {
  return pg.escapeLiteral(value);
}

const DO_TAG = '$bulkhead$';

/** A PL/pgSQL block run once, for statements that must depend on what exists (there is no CREATE ROLE IF NOT EXISTS). */
export function doBlock(body: string): string {
  // A body holding the tag would end the dollar quote early; our bodies never do, and this keeps it so.
  if (body.includes(DO_TAG)) throw new Error('a DO block body holds its own dollar-quote tag');
  return `DO ${DO_TAG} BEGIN ${body} END ${DO_TAG}`;
}

/** Creates the tenant's login role, or resets an existing one to exactly these attributes and a new password. */
export function upsertRoleSql(role: string, scramVerifier: string, connectionLimit: number): string {
  if (!Number.isSafeInteger(connectionLimit)) throw new Error('connection limit must be an integer');
  const attributes =
    'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS ' +
    `CONNECTION LIMIT ${connectionLimit} PASSWORD ${literal(scramVerifier)}`;
  return doBlock(
    `IF EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(role)}) ` +
      `THEN ALTER ROLE ${ident(role)} WITH ${attributes}; ` +
      `ELSE CREATE ROLE ${ident(role)} WITH ${attributes}; END IF;`,
  );
}

/** Runs `statements` only when the role exists (DROP OWNED BY and friends fail on a missing role). */
export function ifRoleExists(role: string, statements: string): string {
  return doBlock(
    `IF EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(role)}) THEN ${statements} END IF;`,
  );
}
