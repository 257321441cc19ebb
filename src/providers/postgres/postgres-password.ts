// Tenant passwords: 32 random bytes, handed to the tenant once and sent to the server only as a
// SCRAM-SHA-256 verifier, so the plain password never appears in server logs, pg_stat_activity or
// pg_authid. Assumes the server accepts pre-hashed verifiers (PostgreSQL 10 and later do).
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

// PostgreSQL's own default (scram_iterations); a verifier is checked with whatever count it names.
const ITERATIONS = 4096;

/** A new password: 32 random bytes as base64url (43 characters, nothing that needs quoting in a URL). */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

async function keys(password: string, salt: Buffer, iterations: number) {
  // Our passwords are ASCII, for which SASLprep is the identity; verifying a foreign one may differ.
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/** The verifier PostgreSQL stores for `password` (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). */
export async function scramVerifier(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { storedKey, serverKey } = await keys(password, salt, ITERATIONS);
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * True when `password` matches a stored verifier: what a server with scram-sha-256 authentication
 * decides at login. Lets tests prove rotation on a server that trusts local connections.
 */
export async function verifiesScram(password: string, verifier: string): Promise<boolean> {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (m === null) return false;
  const { storedKey } = await keys(password, Buffer.from(m[2]!, 'base64'), Number(m[1]!));
  const expected = Buffer.from(m[3]!, 'base64');
  return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
}
