// What the three sign-in forms share: the portal's, the operator console's and an issuer's own. Before
// anyone is signed in there is no session to bind a form token to, so each form is bound to a cookie of
// its own (a random value, set with the page), and taken only from a page of this very site (Origin)
// with the token that cookie's value gives. A person's email and password are checked under the
// failed-login limits, whose headers the route's answer carries.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BulkheadError } from '../errors.js';
import { readSessionCookie } from '../identity/sessions.js';
import {
  signInPerson,
  type SignInAttempt,
  type SignInDeps,
  type SignInOutcome,
} from '../identity/sign-in.js';
import { noteLoginLimit } from './plugins/login-rate.js';
import { fromThisSite } from './same-site.js';

/** A sign-in form's own cookie: its name and attributes. */
export interface SignInCookie {
  readonly name: string;
  readonly attributes: string;
}

/** Compares two form tokens in constant time. */
export function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The value the form is bound to: the form's cookie, or a fresh value set in it when it holds none. */
export function signInBinding(request: FastifyRequest, reply: FastifyReply, cookie: SignInCookie): string {
  const existing = readSessionCookie(request.headers.cookie, cookie.name);
  if (existing !== null && existing !== 'ambiguous' && /^[A-Za-z0-9_-]{43}$/.test(existing.value))
    return existing.value;
  const binding = randomBytes(32).toString('base64url');
  reply.header('set-cookie', `${cookie.name}=${binding}; Max-Age=3600; ${cookie.attributes}`);
  return binding;
}

/**
 * Refuses a sign-in form (`csrf_rejected`, saying `refusal`) unless it comes from a page of this site
 * with the token `tokenOf` gives for the value of the form's cookie `cookieName`.
 */
export function checkSignInForm(
  request: FastifyRequest,
  cookieName: string,
  presented: string,
  tokenOf: (binding: string) => string,
  refusal: string,
): void {
  const binding = readSessionCookie(request.headers.cookie, cookieName);
  const expected = binding === null || binding === 'ambiguous' ? null : tokenOf(binding.value);
  if (!fromThisSite(request) || expected === null || !sameToken(presented, expected))
    throw new BulkheadError('csrf_rejected', refusal);
}

/**
 * Checks a person's email and password (`signInPerson`), noting for the RateLimit headers where the
 * attempt counted; a refusal for too many failures sets Retry-After.
 */
export async function signInFromForm(
  deps: SignInDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  attempt: Omit<SignInAttempt, 'counted'>,
): Promise<SignInOutcome> {
  const outcome = await signInPerson(deps, {
    ...attempt,
    counted: (account, place) => noteLoginLimit(request, account, place),
  });
  if (outcome.kind === 'limited') reply.header('retry-after', String(outcome.retryAfter));
  return outcome;
}
