// One spelling for every name a caller signs in with. Emails, client ids and domain references are put
// in their canonical form here, once, at the edge, and the lookup, the stored value and the failed-login
// limit all use that form, so no second spelling of an account can find it or count apart from it.
// The types are branded: the principal service and the limiter accept nothing that did not come from
// here. No I/O.
import { isId } from '../domain/ids.js';
import { normaliseSlug } from '../domain/slug.js';
import { BulkheadError, type ErrorCode } from '../errors.js';

declare const canonical: unique symbol;
type Canonical<K extends string> = string & { readonly [canonical]: K };

/** A user's email in canonical form: what is stored, looked up and limited. */
export type Email = Canonical<'email'>;
/** A service's client id in canonical form. */
export type ClientId = Canonical<'client'>;
/** A domain named by its id or its slug, in canonical form. */
export type DomainRef = { readonly id: Canonical<'domain'> } | { readonly slug: Canonical<'slug'> };
/** What the failed-login limit counts under: one account, however it was spelt. */
export type AccountKey = Canonical<'account'>;

/** The longest canonical name taken; NFKC can make a name longer than the text that was sent. */
const maxLength = 320;

/**
 * NFKC (full-width and other compatibility forms become their plain letters), surrounding white space
 * removed, lowercase. A name that is not well-formed Unicode or holds a control character (a NUL, a
 * line break) cannot be anyone's, and is refused with `code` before it reaches a lookup or the store.
 */
function canonicalName(input: string, code: ErrorCode, what: string): string {
  const name = input.normalize('NFKC').trim().toLowerCase().normalize('NFKC');
  // \p{Cs}: a lone surrogate, which has no UTF-8 form and would reach the store as a different name.
  if (name === '' || name.length > maxLength || /[\p{Cc}\p{Cs}]/u.test(name))
    throw new BulkheadError(code, `The ${what} is empty, too long, or not plain text.`);
  return name;
}

/**
 * An email as it is stored and compared: ` Ada@Example.com`, `ADA@EXAMPLE.COM` and its full-width
 * spelling are all `ada@example.com`.
 *
 * @example
 * canonicalEmail(' Ａｄａ@example.com') // 'ada@example.com'
 */
export function canonicalEmail(input: string): Email {
  return canonicalName(input, 'invalid_request', 'username') as Email;
}

/** A client id as generated (`bhc_` and lowercase hex); a malformed one is `invalid_client`. */
export function canonicalClientId(input: string): ClientId {
  return canonicalName(input, 'invalid_client', 'client id') as ClientId;
}

/**
 * A domain reference: an id (`dom_…`, whatever its case) or a slug, normalised as slugs are everywhere.
 *
 * @example
 * canonicalDomainRef('DOM_01…') // { id: 'dom_01…' }
 * canonicalDomainRef(' Acme')   // { slug: 'acme' }
 */
export function canonicalDomainRef(input: string): DomainRef {
  const ref = normaliseSlug(canonicalName(input, 'invalid_request', 'domain'));
  return isId('domain', ref) ? { id: ref as Canonical<'domain'> } : { slug: ref as Canonical<'slug'> };
}

/**
 * The failed-login limit's key for a user: the domain's id when the account exists (so naming its domain
 * by id or by slug is one account), else the reference itself, and the canonical email.
 */
export function userAccountKey(domainId: string | null, domain: DomainRef, email: Email): AccountKey {
  const where = domainId ?? ('id' in domain ? domain.id : `slug:${domain.slug}`);
  return `user\n${where}\n${email}` as AccountKey;
}

/** The failed-login limit's key for a service: its canonical client id (client ids are global). */
export function clientAccountKey(clientId: ClientId): AccountKey {
  return `client\n${clientId}` as AccountKey;
}
