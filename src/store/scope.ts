// How a transaction enters one domain's scope (migration 0019). Any session may set a custom setting, so
// a domain id in a setting would be a claim that SQL injected into one domain's transaction could make for
// another. Instead the message that opens the transaction calls `scope_open(token)`: the token is the
// domain id and the HMAC-SHA-256, under the database's scope key (which the application role cannot
// read), of that whole message, so a token is good for the message it came in and for no other. The
// procedure (migration 0021; a function, `scope_enter`, until then) leaves a value bound to that
// transaction and server session, which the policies check.
import { createHmac } from 'node:crypto';

/** The setting the policies read, through `scope_domain()`. */
export const scopeSetting = 'bulkhead.domain_id';

const entry = "CALL public.scope_open('";
const unsigned = '0'.repeat(64);
/** `dom_` and 26 characters, then the dot. */
const macOffset = entry.length + 31;

/**
 * The statement that enters `domainId`'s scope, its MAC still zeros: `sealScope` signs the message it
 * ends up in. `domainId` must have been checked against the domain id pattern (it is written into SQL).
 */
export function enterScope(domainId: string): string {
  return `${entry}${domainId}.${unsigned}')`;
}

/**
 * Signs the scope of `message`: writes in the MAC of the whole message as it stands, zeros included,
 * which `scope_open` recomputes from the text it runs in. Only an `enterScope` statement whose quote is
 * the first in the message is signed (the scope comes before anything a query could put in), so a message
 * that opens no domain (the system context's, whose first quote is its empty setting) comes back as it is.
 *
 * @example
 * const text = sealScope(key, `${enterScope(domainId)}; SELECT id FROM domains`);
 */
export function sealScope(key: Buffer, message: string): string {
  const at = message.indexOf("'") - (entry.length - 1);
  if (at < 0 || !message.startsWith(entry, at)) return message;
  if (message.slice(at + macOffset, at + macOffset + 64) !== unsigned) return message;
  const mac = createHmac('sha256', key).update(message, 'utf8').digest('hex');
  return message.slice(0, at + macOffset) + mac + message.slice(at + macOffset + 64);
}
