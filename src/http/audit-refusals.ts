// The audit events of a credential refused after it was read: used in another domain than its own, or
// (a provisioning key) for a kind or an action it is not scoped for. The API's hooks
// (plugins/authenticate.ts) and the portal's forms that take a key (routes/portal/resources.ts) write
// the same events through these.
import { appendAudit } from '../audit/log.js';
import type { KeyPrincipal } from '../keys/service.js';
import type { Store } from '../store/store.js';

interface Attempt {
  readonly requestId: string;
  readonly route: string | null;
  readonly method: string;
}

/** A refusal of `principal`'s credential, audited in its own domain with the route it was refused on. */
function auditRefused(
  store: Store,
  principal: { readonly actor: string; readonly domainId: string },
  action: 'access.cross_domain' | 'access.scope_denied',
  target: string | null,
  attempt: Attempt,
  detail: Record<string, unknown> = {},
): Promise<void> {
  return store.withDomain(principal.domainId, (tx) =>
    appendAudit(tx, {
      actor: principal.actor,
      requestId: attempt.requestId,
      domainId: principal.domainId,
      action,
      target,
      outcome: 'denied',
      detail: { route: attempt.route, method: attempt.method, ...detail },
    }),
  );
}

/** A credential presented for another domain than its own: audited in the credential's domain. */
export function auditCrossDomain(
  store: Store,
  principal: { readonly actor: string; readonly domainId: string },
  target: string,
  attempt: Attempt,
): Promise<void> {
  return auditRefused(store, principal, 'access.cross_domain', target, attempt);
}

/** A key refused for its scopes (after the refused work was rolled back): audited in its domain. */
export function auditScopeDenied(
  store: Store,
  principal: KeyPrincipal,
  target: string | null,
  refused: { readonly kind: string | null; readonly action: string | null },
  attempt: Attempt,
): Promise<void> {
  return auditRefused(store, principal, 'access.scope_denied', target, attempt, {
    kind: refused.kind,
    action: refused.action,
  });
}
