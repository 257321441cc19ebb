// Secrets (provisioning keys, the operator token) are stored only as HMAC-SHA256 under the server
// secret, so a copy of the database alone does not let anyone test guesses offline.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function keyedHash(secret: Buffer, value: string): string {
  return createHmac('sha256', secret).update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameHash(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && ab.length > 0 && timingSafeEqual(ab, bb);
}
