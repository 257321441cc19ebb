// Who is calling, as resolved once per request from the credential and nothing else. A principal
// that belongs to a domain carries that domain's id; nothing in the request can change it.
import type { PrincipalRole } from '../store/schema.js';
import type { Scope } from './scopes.js';

export type Principal =
  | { readonly kind: 'operator'; readonly actor: string }
  /** Reads the Prometheus metrics (BULKHEAD_METRICS_TOKEN) and nothing else. */
  | { readonly kind: 'metrics'; readonly actor: string }
  /** Reads every domain's revocations (BULKHEAD_FEED_TOKEN) and nothing else. */
  | { readonly kind: 'feed'; readonly actor: string }
  | {
      readonly kind: 'provisioning_key';
      readonly actor: string;
      readonly domainId: string;
      readonly domainSlug: string;
      readonly keyId: string;
      /** What the key may do to which kinds of resource (`scopes.ts`). */
      readonly scopes: readonly Scope[];
    }
  | {
      readonly kind: 'access_token' | 'session';
      readonly actor: string;
      readonly domainId: string;
      readonly domainSlug: string;
      /** The principal (`prn_…`) the token was issued to. */
      readonly subject: string;
      readonly sessionId: string;
      /** An admin of its domain manages the domain's principals and sessions. */
      readonly role: PrincipalRole;
    };

export type CredentialKind = Principal['kind'];

/** A principal that belongs to one domain (not the operator, the metrics reader or the feed reader). */
export type DomainPrincipal = Extract<Principal, { readonly domainId: string }>;

export function inDomain(principal: Principal): principal is DomainPrincipal {
  return 'domainId' in principal;
}

/** The context every change is made in: who asked, and under which request id it is logged. */
export interface Actor {
  readonly actor: string;
  readonly requestId: string | null;
}
