// The audit events of the provisioning path, built in one place so that every path that reserves,
// moves or refuses a resource records it in the same shape.
import type { AuditAction, AuditEventInput } from '../audit/events.js';
import type { ResourceKind } from '../domain/kinds.js';
import type { BulkheadError } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { ResourceRow, ResourceStatus } from '../store/schema.js';

/** The audit event of a reserved resource. */
export function created(
  actor: Actor,
  domainId: string,
  resourceId: string,
  input: { kind: ResourceKind; name: string },
  backendName: string,
  keyId: string,
): AuditEventInput {
  return {
    ...actor,
    domainId,
    action: 'resource.create',
    target: resourceId,
    outcome: 'success',
    detail: { kind: input.kind, name: input.name, backendName, keyId },
  };
}

/** The audit event of a resource that moved from `from` to `to`. */
export function transition(
  actor: Actor,
  resource: { domainId: string; resourceId: string; kind: string; error: string | null },
  action: AuditAction,
  from: ResourceStatus,
  to: ResourceStatus,
): AuditEventInput {
  return {
    ...actor,
    domainId: resource.domainId,
    action,
    target: resource.resourceId,
    outcome: action === 'resource.failed' ? 'failure' : 'success',
    detail: { kind: resource.kind, from, to, ...(resource.error === null ? {} : { error: resource.error }) },
  };
}

/** The audit event of an operation refused because the resource's backend is not this server's. */
export function refused(
  actor: Actor,
  row: ResourceRow,
  action: AuditAction,
  why: BulkheadError,
): AuditEventInput {
  return {
    ...actor,
    domainId: row.domain_id,
    action,
    target: row.id,
    outcome: 'refused',
    detail: {
      kind: row.kind,
      reason: why.code,
      backend: row.backend === null ? null : `${row.backend} ${row.backend_location ?? ''}`.trim(),
    },
  };
}
