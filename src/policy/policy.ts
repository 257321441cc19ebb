// The one place that decides whether a principal may touch a route's target. Routes declare which
// credentials they accept and which path parameter names the domain; handlers never decide tenancy.
// A principal of another domain gets the same answer as a target that does not exist.
import type { GrantableAction } from './grants.js';
import { inDomain, type CredentialKind, type Principal } from './principal.js';

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
}

export type Decision =
  | { readonly allow: true }
  | {
      readonly allow: false;
      readonly code:
        'unauthenticated' | 'operator_required' | 'key_required' | 'admin_required' | 'not_found';
      readonly crossDomain?: string;
    };

export const publicAccess: Access = { credentials: [] };
export const operatorOnly: Access = { credentials: ['operator'] };
/** The Prometheus metrics: the operator, or the metrics token that can read nothing else. */
export const metricsReader: Access = { credentials: ['operator', 'metrics'] };
export const operatorOrOwnDomain: Access = {
  credentials: ['operator', 'provisioning_key'],
  domainParam: 'domainId',
};
export const anyCredential: Access = {
  credentials: ['operator', 'provisioning_key', 'access_token', 'session'],
};
/**
 * A domain's own data, for any credential of that domain (key, access token, session) and the operator;
 * another domain only through a live grant for `action`.
 */
export function domainData(action: GrantableAction, resourceParam?: string): Access {
  return {
    credentials: ['operator', 'provisioning_key', 'access_token', 'session'],
    domainParam: 'domainId',
    action,
    ...(resourceParam === undefined ? {} : { resourceParam }),
  };
}

/**
 * The people and services of a domain, and their sessions: the operator, or an admin of that domain (its
 * access token or its session). A member of the domain is refused; another domain's admin gets a 404.
 */
export const domainAdmin: Access = {
  credentials: ['operator', 'access_token', 'session'],
  domainParam: 'domainId',
  adminOnly: true,
};

/** Only a key of the domain itself: tenant secrets and tenant data never go to the operator. */
export const ownDomainKey: Access = { credentials: ['provisioning_key'], domainParam: 'domainId' };

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
