// The one place that decides whether a principal may touch a route's target. Routes declare which
// credentials they accept, which path parameter names the domain and what a key must be scoped for;
// handlers never decide tenancy.
// A principal of another domain gets the same answer as a target that does not exist.
import type { BillingKind, ComputeKind } from '../domain/kinds.js';
import type { GrantableAction } from './grants.js';
import { inDomain, type CredentialKind, type Principal } from './principal.js';
import { ofKind, unscoped, type RouteScope, type ScopeAction } from './scopes.js';

export interface Access {
  /** Credential kinds the route accepts; empty means the route is public. */
  readonly credentials: readonly CredentialKind[];
  /** The path parameter that names the domain the route works in, if any. */
  readonly domainParam?: string;
  /**
   * What the route does, for routes another domain may be granted: a principal of another domain gets
   * through only with a live grant for this action (and the resource named by `resourceParam`).
   */
  readonly action?: GrantableAction;
  /** The path parameter naming the resource acted on; without one, only a `*` grant allows the call. */
  readonly resourceParam?: string;
  /** Access tokens and sessions must belong to an admin of the domain (keys are not accepted here). */
  readonly adminOnly?: boolean;
  /**
   * What a provisioning key must be scoped for (`scopes.ts`). Every route that accepts keys declares it;
   * a key on a route that declares none is refused (`scope_denied`), so a route added without one fails
   * closed.
   */
  readonly scope?: RouteScope;
}

export type Decision =
  | { readonly allow: true }
  | {
      readonly allow: false;
      readonly code:
        | 'unauthenticated'
        | 'operator_required'
        | 'key_required'
        | 'admin_required'
        | 'scope_denied'
        | 'not_found';
      readonly crossDomain?: string;
    };

export const publicAccess: Access = { credentials: [] };
export const operatorOnly: Access = { credentials: ['operator'] };
/** The Prometheus metrics: the operator, or the metrics token that can read nothing else. */
export const metricsReader: Access = { credentials: ['operator', 'metrics'] };
/**
 * The revocation feed's catch-up read: the operator or the feed token (every domain's revocations), or a
 * key or access token of a domain (that domain's only).
 */
export const revocationReader: Access = {
  credentials: ['operator', 'feed', 'provisioning_key', 'access_token'],
  scope: unscoped("reads the revocations of the credential's own domain, which name no resource"),
};
/** The operator, or a key of the domain the path names, scoped as `scope` says. */
export function operatorOrOwnDomain(scope: RouteScope): Access {
  return { credentials: ['operator', 'provisioning_key'], domainParam: 'domainId', scope };
}
export const anyCredential: Access = {
  credentials: ['operator', 'provisioning_key', 'access_token', 'session'],
  scope: unscoped("answers about the caller's own credential only"),
};
/**
 * A domain's compute (its instances or its volumes), for any credential of that domain (key, access
 * token, session) and the operator; another domain only through a live grant (`instances.read`, or
 * `instances.write` for any change). A key must also be scoped for `keyAction` on `kind`
 * (`instances:create`, or the plain `instances`); tokens and sessions are not narrowed by scopes.
 */
export function domainData(kind: ComputeKind, keyAction: ScopeAction, resourceParam?: string): Access {
  const action: GrantableAction = keyAction === 'read' ? `${kind}.read` : `${kind}.write`;
  return {
    credentials: ['operator', 'provisioning_key', 'access_token', 'session'],
    domainParam: 'domainId',
    action,
    scope: ofKind(kind, keyAction),
    ...(resourceParam === undefined ? {} : { resourceParam }),
  };
}

/**
 * A domain's own billing (its usage, its invoices): the operator, or a credential of that domain; a key
 * must be scoped for `keyAction` on `kind` (`usage:write`, `invoices:read` …). With `write`, only the
 * operator and keys: access tokens and sessions carry no scopes to say they may. No grant reaches it:
 * what a domain used and owes is its own, whoever acted for it.
 */
export function domainBilling(kind: BillingKind, keyAction: ScopeAction): Access {
  return {
    credentials:
      keyAction === 'write'
        ? ['operator', 'provisioning_key']
        : ['operator', 'provisioning_key', 'access_token', 'session'],
    domainParam: 'domainId',
    scope: ofKind(kind, keyAction),
  };
}

/** An operator's change to one domain's billing (an invoice's status): the operator alone. */
export const operatorInDomain: Access = { credentials: ['operator'], domainParam: 'domainId' };

/**
 * The people and services of a domain, and their sessions: the operator, or an admin of that domain (its
 * access token or its session). A member of the domain is refused; another domain's admin gets a 404.
 */
export const domainAdmin: Access = {
  credentials: ['operator', 'access_token', 'session'],
  domainParam: 'domainId',
  adminOnly: true,
};

/**
 * Only a key of the domain itself, scoped as `scope` says: tenant secrets and tenant data never go to the
 * operator.
 */
export function ownDomainKey(scope: RouteScope): Access {
  return { credentials: ['provisioning_key'], domainParam: 'domainId', scope };
}

export function decide(
  principal: Principal | null,
  access: Access,
  params: Readonly<Record<string, unknown>>,
): Decision {
  if (access.credentials.length === 0) return { allow: true };
  if (principal === null) return { allow: false, code: 'unauthenticated' };
  if (!access.credentials.includes(principal.kind)) {
    // Independent of the target, so it reveals nothing about whether another domain's thing exists.
    return { allow: false, code: principal.kind === 'operator' ? 'key_required' : 'operator_required' };
  }
  // A route that accepts keys but never said what they need lets none through.
  if (principal.kind === 'provisioning_key' && access.scope === undefined)
    return { allow: false, code: 'scope_denied' };
  if (!inDomain(principal) || access.domainParam === undefined) return { allow: true };
  const target = params[access.domainParam];
  if (target === principal.domainId) {
    // Asked only in the principal's own domain, so a refusal says nothing about another domain's things.
    if (access.adminOnly === true && !('role' in principal && principal.role === 'admin'))
      return { allow: false, code: 'admin_required' };
    return { allow: true };
  }
  return {
    allow: false,
    code: 'not_found',
    crossDomain: typeof target === 'string' ? target : String(target),
  };
}
