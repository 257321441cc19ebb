// The closed set of things the audit log records. Every event names its domain (or null for events that
// belong to no domain, such as a key that matched nothing) and its outcome.
import type { EventFields } from '../store/repositories/audit.js';

export const auditActions = [
  'operator.token_created',
  'operator.authenticate',
  'domain.create',
  'domain.suspend',
  'domain.resume',
  'domain.delete',
  'key.issue',
  'key.rotate',
  'key.revoke',
  'key.authenticate',
  'access.cross_domain',
  'access.scope_denied',
  'access.rate_limited',
  'domain.key_destroyed',
  'domain.purged',
  'pool.update',
  'resource.create',
  'resource.ready',
  'resource.failed',
  'resource.delete',
  'resource.deleted',
  'resource.credentials',
  'resource.credentials_rotated',
  'resource.orphan_removed',
  'object.put',
  'object.delete',
  'signing_key.create',
  'signing_key.rotate',
  'principal.create',
  'principal.disable',
  'principal.delete',
  'principal.password_changed',
  'principal.role',
  'oauth_client.create',
  'oauth_client.delete',
  'token.issue',
  'token.denied',
  'token.refresh',
  'token.refresh_reuse',
  'session.revoke',
  'session.login',
  'session.logout',
  'instance.create',
  'instance.delete',
  'volume.create',
  'volume.attach',
  'volume.detach',
  'volume.delete',
  'volume.deleted',
  'grant.create',
  'grant.revoke',
  'grant.use',
  'blueprint.create',
  'blueprint.ready',
  'blueprint.rolled_back',
  'verify.failed',
  'billing.prices',
  'invoice.close',
  'invoice.status',
  'invoice.purge',
  'payment.customer_create',
  'payment.customer_delete',
  'payment.setup_intent',
  'payment.method_detach',
  'payment.charge',
  'payment.succeeded',
  'payment.failed',
  'payment.event_ignored',
  'billing.details',
  'portal.update',
  'portal.logo',
  'portal.cross_host',
  'portal.sign_out_everywhere',
] as const;

export type AuditAction = (typeof auditActions)[number];
/** `refused`: the server would not act, for a reason of its own configuration (not the caller's rights). */
export type AuditOutcome = 'success' | 'denied' | 'failure' | 'refused';

export interface AuditEventInput {
  readonly domainId: string | null;
  /** Who acted: `operator`, `cli:<user>`, `key:<keyId>`, `anonymous`, `system`. */
  readonly actor: string;
  readonly action: AuditAction;
  readonly target: string | null;
  readonly outcome: AuditOutcome;
  readonly requestId: string | null;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * The event of a change that succeeded: `actor` (who, and the request) did `action` to `target` in
 * `domainId`. Built here once, so that every service records its successes in the same shape.
 */
export function succeeded(
  actor: Pick<AuditEventInput, 'actor' | 'requestId'>,
  domainId: string | null,
  action: AuditAction,
  target: string | null,
  detail?: Readonly<Record<string, unknown>>,
): AuditEventInput {
  return {
    ...actor,
    domainId,
    action,
    target,
    outcome: 'success',
    ...(detail === undefined ? {} : { detail }),
  };
}

/** An event as the log holds it: its fields, and its place in its chain. */
export interface AuditEvent extends EventFields {
  readonly seq: number;
  readonly detail: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}
