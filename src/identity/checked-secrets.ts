// Client secrets stay stored as scrypt hashes (passwords.ts); a client that asks for tokens often pays
// scrypt once every few minutes rather than at every grant. What is remembered is only that a secret
// matched a stored hash: an HMAC, under a key drawn when the process starts and never kept anywhere, of
// that stored hash and the secret, never the secret itself. The stored hash is read from the database at
// every request, in the statement that finds the client live, and is part of what is remembered: a
// secret replaced (a new hash, with a new salt) or a client deleted or disabled (no row) is refused at
// the next request in every process, whatever a process remembers. Failures are never remembered.
import { createHmac, randomBytes } from 'node:crypto';
import { verifySecret } from './passwords.js';

/** How long a match is remembered: the longest a process goes without paying scrypt for a secret. */
export const checkedSecretMs = 5 * 60_000;
/** How many matches a process remembers at most (the oldest go first). */
const checkedSecretsMax = 10_000;

export class CheckedSecrets {
  private readonly key = randomBytes(32);
  // HMAC of (stored hash, secret) → when the match is forgotten.
  private readonly matched = new Map<string, number>();

  constructor(private readonly o: { readonly ttlMs?: number; readonly max?: number } = {}) {}

  /**
   * Whether `secret` matches the `stored` hash just read from the database: verifySecret's answer, at the
   * cost of scrypt only the first time within `ttlMs` that this pair is presented.
   */
  async verify(secret: string, stored: string): Promise<boolean> {
    // A stored hash is `scrypt$…` text and never holds a NUL, so the pair reads back one way only.
    const digest = createHmac('sha256', this.key)
      .update(stored, 'utf8')
      .update('\0')
      .update(secret, 'utf8')
      .digest('base64url');
    const now = Date.now();
    const until = this.matched.get(digest);
    if (until !== undefined) {
      if (until > now) return true;
      this.matched.delete(digest);
    }
    if (!(await verifySecret(secret, stored))) return false;
    if (this.matched.size >= (this.o.max ?? checkedSecretsMax))
      this.matched.delete(this.matched.keys().next().value!);
    this.matched.set(digest, now + (this.o.ttlMs ?? checkedSecretMs));
    return true;
  }
}
