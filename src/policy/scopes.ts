// What a provisioning key's scopes allow. A scope is a resource kind (`postgres`: every action on that
// kind, the meaning keys have always had) or a kind and one action (`postgres:read`); the domain's compute
// is scoped the same way (`instances`, `volumes:attach`). Every route a key can reach declares what it
// needs (`Access.scope`); routes whose kind is known only from the stored resource check it in the read
// that loads the resource, before anything is returned or changed.
// Access tokens, sessions and the operator carry no resource scopes: their reach is set by the
// credential kind and the role, and these checks pass them through.
import {
  billingKinds,
  computeKinds,
  objectKinds,
  resourceKinds,
  type BillingKind,
  type ComputeKind,
  type ResourceKind,
} from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import type { Principal } from './principal.js';

/** What a key may do to resources of a kind (and to instances and volumes: read, create, delete, attach). */
export const scopeActions = [
  'read',
  'create',
  'credentials',
  'rotate',
  'delete',
  'objects',
  'attach',
  'write',
] as const;
export type ScopeAction = (typeof scopeActions)[number];

/**
 * What a scope names: a resource kind, the domain's instances or volumes, or its usage, invoices or
 * billing details.
 */
export type ScopeKind = ResourceKind | ComputeKind | BillingKind;
export const scopeKinds: readonly ScopeKind[] = [...resourceKinds, ...computeKinds, ...billingKinds];
/** The kinds a key issued without scopes holds: every kind but billing's, which are asked for by name. */
export const defaultScopeKinds: readonly ScopeKind[] = [...resourceKinds, ...computeKinds];
/** A kind a route names itself rather than reading it from the request or the stored thing. */
export type FixedKind = ComputeKind | BillingKind;

export type Scope = ScopeKind | `${ScopeKind}:${ScopeAction}`;

/** The actions that mean something for `kind`. */
function actionsOf(kind: ScopeKind): readonly ScopeAction[] {
  if (kind === 'instances') return ['read', 'create', 'delete'];
  if (kind === 'volumes') return ['read', 'create', 'delete', 'attach'];
  if (kind === 'usage' || kind === 'payments' || kind === 'billing') return ['read', 'write'];
  if (kind === 'invoices') return ['read'];
  return scopeActions.filter(
    (action) =>
      action !== 'attach' && action !== 'write' && (action !== 'objects' || objectKinds.includes(kind)),
  );
}

/** Every scope a key may hold, in the order keys show them: plain kinds, then kind and action. */
export const validScopes: readonly Scope[] = [
  ...scopeKinds,
  ...scopeKinds.flatMap((kind) => actionsOf(kind).map((action): Scope => `${kind}:${action}`)),
];

/**
 * What a route needs of a key, declared in its `config.access`:
 * - `request`: the kind(s) the request body names (creating), checked before anything is reserved;
 * - `stored`: the kind of the stored thing the path names, checked in the read that loads it;
 * - `listed`: a listing shows only the items of kinds the key may `action`;
 * - `kind`: a fixed kind (instances, volumes, usage, invoices), checked by the policy before the handler runs;
 * - `unscoped`: any key of the domain, for the stated reason (the route touches no resource).
 */
export type RouteScope =
  | { readonly action: ScopeAction; readonly kindFrom: 'request' | 'stored' | 'listed' }
  | { readonly action: ScopeAction; readonly kind: FixedKind }
  | { readonly unscoped: string };

export const fromRequest = (action: ScopeAction): RouteScope => ({ action, kindFrom: 'request' });
export const fromStored = (action: ScopeAction): RouteScope => ({ action, kindFrom: 'stored' });
export const listed = (action: ScopeAction): RouteScope => ({ action, kindFrom: 'listed' });
export const unscoped = (reason: string): RouteScope => ({ unscoped: reason });
export const ofKind = (kind: FixedKind, action: ScopeAction): RouteScope => ({ action, kind });

/** Whether `scopes` let a key do `action` on resources of `kind`. */
export function allows(scopes: readonly string[], kind: string, action: ScopeAction): boolean {
  return scopes.includes(kind) || scopes.includes(`${kind}:${action}`);
}

/** The refusal of a key that lacks the scope; the same code the create path has always answered. */
export function scopeDenied(kind: string, action: ScopeAction): BulkheadError {
  return new BulkheadError('scope_denied', `The key is not scoped for "${kind}:${action}".`, {
    cause: { kind, action },
  });
}

/** Checks a stored thing's kind before the caller returns or changes anything; throws `scope_denied`. */
export type KindCheck = (kind: string) => void;

/** For callers that are not a key (the operator, the reconciler): every kind passes. */
export const everyKind: KindCheck = () => {};

/** The check a principal must pass to do `action` on a resource of some kind. */
export function kindCheck(principal: Principal | null, action: ScopeAction): KindCheck {
  if (principal?.kind !== 'provisioning_key') return everyKind;
  const scopes = principal.scopes;
  return (kind) => {
    if (!allows(scopes, kind, action)) throw scopeDenied(kind, action);
  };
}

/** The kinds a principal may `action`, or null when scopes do not apply to it (not a key). */
export function kindsAllowed(principal: Principal | null, action: ScopeAction): ResourceKind[] | null {
  if (principal?.kind !== 'provisioning_key') return null;
  return resourceKinds.filter((kind) => allows(principal.scopes, kind, action));
}

/**
 * Whether a key passes a route's fixed-kind scope; null when the route's scope is not of a fixed kind
 * or the principal is not a key.
 */
export function fixedKindRefusal(
  principal: Principal | null,
  scope: RouteScope | undefined,
): BulkheadError | null {
  if (principal?.kind !== 'provisioning_key' || scope === undefined || !('kind' in scope)) return null;
  return allows(principal.scopes, scope.kind, scope.action) ? null : scopeDenied(scope.kind, scope.action);
}

/**
 * The scopes to store for a key being issued: every kind but billing's when none are given; otherwise the given
 * ones, checked, without duplicates and without a kind's actions when the plain kind is there too.
 */
export function normaliseScopes(scopes: readonly string[] | undefined): Scope[] {
  if (scopes === undefined) return [...defaultScopeKinds];
  if (scopes.length === 0)
    throw new BulkheadError('invalid_request', 'scopes must name at least one resource kind.');
  const unknown = scopes.filter((s) => !(validScopes as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new BulkheadError(
      'invalid_request',
      `Unknown scope: ${unknown.join(', ')} (a kind, or kind:action with action one of ${scopeActions.join(', ')}).`,
    );
  return validScopes.filter(
    (s) => scopes.includes(s) && !(s.includes(':') && scopes.includes(s.slice(0, s.indexOf(':')))),
  );
}
