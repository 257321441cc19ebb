// Signing a person in with an email and a password, for one domain: the portal's sign-in page and the
// issuer's own (the domains without a portal) ask the same thing in the same order, here. The email is
// read in its canonical form; the account is looked up in the domain named (a person of another domain
// is not found, after the same work as a wrong password); the failed-login limits per account and per
// place (a host or an issuer, and the client address) are checked before the password and counted on
// every failure. A wrong email and a wrong password are one answer.
import type { LoginLimiter } from './login-limiter.js';
import { canonicalEmail, type AccountKey, type DomainRef } from './names.js';
import type { PrincipalService } from './principals.js';
import type { PrincipalRow } from '../store/schema.js';

export interface SignInDeps {
  readonly principals: Pick<PrincipalService, 'findUser' | 'checkPassword'>;
  readonly loginLimiter: Pick<LoginLimiter, 'retryAfter' | 'fail'>;
}

export interface SignInAttempt {
  /** The domain the person must belong to (the portal host's, the issuer's). */
  readonly domainId: string;
  readonly email: string;
  readonly password: string;
  /** Where the attempt is counted besides the account: the page's host or issuer and the client address. */
  readonly place: string;
  /** Told which account and place the attempt counts under (the routes' RateLimit headers). */
  readonly counted?: (account: AccountKey, place: string) => void;
}

export type SignInOutcome =
  | { readonly kind: 'signed-in'; readonly principal: PrincipalRow }
  | { readonly kind: 'invalid-email' }
  | { readonly kind: 'limited'; readonly retryAfter: number }
  | { readonly kind: 'refused' };

/** Checks a person's email and password for a domain, under the failed-login limits. */
export async function signInPerson(deps: SignInDeps, attempt: SignInAttempt): Promise<SignInOutcome> {
  let email: ReturnType<typeof canonicalEmail>;
  try {
    email = canonicalEmail(attempt.email);
  } catch {
    return { kind: 'invalid-email' };
  }
  const account = await deps.principals.findUser({ id: attempt.domainId } as DomainRef, email);
  attempt.counted?.(account.key, attempt.place);
  const wait = deps.loginLimiter.retryAfter(account.key, attempt.place);
  if (wait > 0) return { kind: 'limited', retryAfter: wait };
  const principal = await deps.principals.checkPassword(account, attempt.password);
  if (principal === null || principal.domain_id !== attempt.domainId) {
    deps.loginLimiter.fail(account.key, attempt.place);
    return { kind: 'refused' };
  }
  return { kind: 'signed-in', principal };
}

/** What the person is told for an outcome other than success, with its HTTP status. */
export function signInRefusal(outcome: Exclude<SignInOutcome, { kind: 'signed-in' }>): {
  status: number;
  message: string;
} {
  switch (outcome.kind) {
    case 'invalid-email':
      return { status: 400, message: 'That is not an email address.' };
    case 'limited':
      return {
        status: 429,
        message: `Too many failed attempts. Try again in ${Math.ceil(outcome.retryAfter / 60)} minutes.`,
      };
    case 'refused':
      return { status: 401, message: 'The email or the password is not right.' };
  }
}
