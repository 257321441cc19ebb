// The value that scopes a transaction to one domain. Any session may set a custom setting, so the domain
// id alone would be a claim that SQL injected into one domain's transaction could make for another: the
// value carries the id's HMAC-SHA-256 under the database's scope key (migration 0019), which the
// application role cannot read, and the policies see a domain only through `scope_domain()`, which
// checks the MAC in the database.
import { createHmac } from 'node:crypto';

/** The setting the policies read, through `scope_domain()`. */
export const scopeSetting = 'bulkhead.domain_id';

/**
 * The value of `bulkhead.domain_id` that opens `domainId`'s rows: `<domainId>.<hex HMAC-SHA-256 of the
 * id under key>`. `domainId` must have been checked against the domain id pattern (it is written into SQL).
 *
 * @example
 * const value = scopeValue(key, 'dom_01hzy0000000000000000000ab');
 */
export function scopeValue(key: Buffer, domainId: string): string {
  return `${domainId}.${createHmac('sha256', key).update(domainId, 'utf8').digest('hex')}`;
}
