// Client authentication at a domain's OAuth endpoints (RFC 6749 §2.3.1): `client_secret_basic` or
// `client_secret_post`, never both at once. The clients are the domain's service principals; one of
// another domain is the same `invalid_client` as a wrong secret, after the same hashing work, and counts
// against the failed-login limit like one.
import { noteLoginLimit, type LoginLimitNote } from '../../plugins/login-rate.js';
import { BulkheadError } from '../../../errors.js';
import { canonicalClientId, clientAccountKey } from '../../../identity/names.js';
import { assertionType } from '../../../identity/oidc/clients.js';
import type { Services } from '../../../runtime.js';
import type { OAuthClientRow, PrincipalRow } from '../../../store/schema.js';
import { basicCredentials } from '../../oauth.js';

export interface PresentedClient {
  readonly client_id?: string | undefined;
  readonly client_secret?: string | undefined;
  readonly client_assertion?: string | undefined;
  readonly client_assertion_type?: string | undefined;
}

/** Whether the request carries any client authentication. */
export function presentsClient(authorization: string | undefined, body: PresentedClient): boolean {
  return (
    /^Basic /i.test(authorization ?? '') ||
    body.client_secret !== undefined ||
    body.client_assertion !== undefined
  );
}

/** A client that authenticated: a service principal, or a client registered for the domain. */
export type AuthenticatedClient =
  | { readonly kind: 'service'; readonly principal: PrincipalRow }
  | { readonly kind: 'registered'; readonly client: OAuthClientRow };

/** The domain's client that authenticated, or `invalid_client`. */
export async function authenticateClient(
  services: Services,
  request: { headers: { authorization?: string | undefined }; ip: string; loginLimit: LoginLimitNote | null },
  body: PresentedClient,
  domainId: string,
): Promise<AuthenticatedClient> {
  const basic = basicCredentials(request.headers.authorization);
  if (basic !== null && body.client_secret !== undefined)
    throw new BulkheadError('invalid_request', 'Use one client authentication method, not two.');
  if (body.client_assertion !== undefined)
    return {
      kind: 'registered',
      client: await assertedClient(services, request, body, domainId, basic !== null),
    };
  const id = basic?.id ?? body.client_id;
  const secret = basic?.secret ?? body.client_secret;
  if (id === undefined || secret === undefined) throw new BulkheadError('invalid_client');
  const client = canonicalClientId(id);
  const account = clientAccountKey(client);
  const limiter = services.loginLimiter;
  noteLoginLimit(request, account, request.ip);
  const wait = limiter.retryAfter(account, request.ip);
  if (wait > 0)
    throw Object.assign(new BulkheadError('rate_limited', 'Too many failed attempts.'), { retryAfter: wait });
  // A registered client (`bho_…`) must present its secret the way it registered.
  if (client.startsWith('bho_')) {
    const registered = await services.oauthClients.check(
      client,
      secret,
      basic === null ? 'client_secret_post' : 'client_secret_basic',
    );
    if (registered !== null && registered.domain_id === domainId)
      return { kind: 'registered', client: registered };
  } else {
    const principal = await services.principals.checkClient(client, secret);
    if (principal !== null && principal.domain_id === domainId) return { kind: 'service', principal };
  }
  limiter.fail(account, request.ip);
  throw new BulkheadError('invalid_client');
}

/** The `private_key_jwt` client of the domain whose assertion the request carries (RFC 7523 §2.2). */
async function assertedClient(
  services: Services,
  request: { ip: string },
  body: PresentedClient,
  domainId: string,
  withBasic: boolean,
): Promise<OAuthClientRow> {
  if (withBasic || body.client_secret !== undefined)
    throw new BulkheadError('invalid_request', 'Use one client authentication method, not two.');
  if (body.client_assertion_type !== assertionType)
    throw new BulkheadError('invalid_client', `client_assertion_type must be ${assertionType}.`);
  // Failures count under the client the request names (or under "no name"), like a wrong secret's.
  const account = clientAccountKey(canonicalClientId(body.client_id ?? 'unnamed'));
  const wait = services.loginLimiter.retryAfter(account, request.ip);
  if (wait > 0)
    throw Object.assign(new BulkheadError('rate_limited', 'Too many failed attempts.'), { retryAfter: wait });
  const issuer = await services.issuers.forDomain(domainId);
  const audiences = [issuer, `${issuer}/token`, `${issuer}/revoke`, `${issuer}/introspect`];
  const client = await services.oauthClients.checkAssertion(
    domainId,
    body.client_assertion!,
    audiences,
    body.client_id,
  );
  if (client === null) {
    services.loginLimiter.fail(account, request.ip);
    throw new BulkheadError('invalid_client');
  }
  return client;
}
