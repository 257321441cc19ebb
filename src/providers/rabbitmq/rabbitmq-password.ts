// Tenant passwords: 32 random bytes, handed to the tenant once and sent to the broker only as the hash
// it stores (rabbit_password_hashing_sha256: base64 of a 4-byte salt and SHA-256 of salt + password), so
// the plain password never travels in a management request body or lands in a definitions export.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const HASHING_ALGORITHM = 'rabbit_password_hashing_sha256';

/** A new password: 32 random bytes as base64url (43 characters, nothing that needs quoting in a URL). */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

function digest(salt: Buffer, password: string): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}

/** The `password_hash` the broker stores for `password`. */
export function passwordHash(password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, digest(salt, password)]).toString('base64');
}

/** True when `password` matches a stored hash: what the broker decides at login. */
export function verifiesHash(password: string, hash: string): boolean {
  const raw = Buffer.from(hash, 'base64');
  if (raw.length !== 36) return false;
  return timingSafeEqual(raw.subarray(4), digest(raw.subarray(0, 4), password));
}
