// What a resource looks like to its domain, and the reads that answer with it. Reads go through the
// domain's own scope, so another domain's resource is `not_found`, exactly like one that does not exist.
import type { ResourceKind } from '../domain/kinds.js';
import { notFound } from '../errors.js';
import { findResource, listResources } from '../store/repositories/resources.js';
import type { ResourceRow, ResourceStatus } from '../store/schema.js';
import type { Store } from '../store/store.js';

export interface ResourceView {
  readonly id: string;
  readonly domainId: string;
  readonly kind: ResourceKind;
  readonly name: string;
  readonly status: ResourceStatus;
  readonly error: string | null;
  readonly usedBytes: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly readyAt: string | null;
  readonly deletedAt: string | null;
}

export function resourceView(row: ResourceRow): ResourceView {
  return {
    id: row.id,
    domainId: row.domain_id,
    kind: row.kind as ResourceKind,
    name: row.name,
    status: row.status,
    error: row.error,
    usedBytes: Number(row.used_bytes),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    readyAt: row.ready_at?.toISOString() ?? null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

/** A resource of the domain; `not_found` otherwise. */
export async function resourceRow(store: Store, domainId: string, resourceId: string): Promise<ResourceRow> {
  const row = await store.withDomain(domainId, (tx) => findResource(tx, domainId, resourceId));
  if (row === undefined) throw notFound();
  return row;
}

/** The domain's resources; with `kinds`, only those of these kinds (what a key may read). */
export async function listViews(
  store: Store,
  domainId: string,
  options: { includeDeleted?: boolean | undefined; kinds?: readonly ResourceKind[] },
): Promise<ResourceView[]> {
  if (options.kinds !== undefined && options.kinds.length === 0) return [];
  const rows = await store.withDomain(domainId, (tx) => listResources(tx, domainId, options));
  return rows.map(resourceView);
}
