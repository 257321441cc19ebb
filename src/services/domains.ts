// Domains: creation, listing and the active → suspended → deleted life cycle. Each change and its
// audit event commit together; the domain row is locked while its status changes.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { normaliseSlug, parseSlug } from '../domain/slug.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { DomainRow, DomainStatus } from '../store/schema.js';
import type { DomainTx, Store, Tx } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import { recordRevocation } from '../identity/revocations.js';
import { announceKeyChange } from '../keys/changes.js';
import {
  domainRows,
  findDomain,
  insertDomain,
  lockDomain,
  setDomainStatus,
  slugDeletedSince,
  type DomainRowFilter,
} from '../store/repositories/domains.js';
import { revokeDomainKeys } from '../store/repositories/keys.js';
import { insertEmptyPool } from '../store/repositories/pools.js';
import { markDomainResourcesForRemoval } from '../store/repositories/resources.js';
import { markDomainInstancesDeleted } from '../store/repositories/instances.js';
import { markDomainVolumesDeleting } from '../store/repositories/volumes.js';

// The domain lock lives with the other queries of the domains table; importable from here as before.
export { lockDomain };

export interface DomainView {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly status: DomainStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly suspendedAt: string | null;
  /** Why it is suspended (`billing`: non-payment, lifted by payment); null when it is not suspended. */
  readonly suspendReason: string | null;
  readonly deletedAt: string | null;
}

/** The reason of a suspension for non-payment: paying the domain's invoices lifts it. */
export const billingSuspension = 'billing';
/** The reason of a suspension when none is given. */
export const defaultSuspension = 'operator';

export function domainView(row: DomainRow): DomainView {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    suspendedAt: row.suspended_at?.toISOString() ?? null,
    suspendReason: row.status === 'suspended' ? (row.suspend_reason ?? defaultSuspension) : null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

/** What `listDomains` selects by: the store's filter (the slug is normalised first), 100 at most by default. */
export interface DomainListOptions extends Omit<DomainRowFilter, 'limit'> {
  readonly limit?: number | undefined;
}

/** Domains by filter: the system context lists every domain, a domain's own context only itself. */
export async function listDomains(tx: Tx, options: DomainListOptions = {}): Promise<DomainView[]> {
  const rows = await domainRows(tx, {
    status: options.status,
    includeDeleted: options.includeDeleted,
    slug: options.slug === undefined ? undefined : normaliseSlug(options.slug.trim()),
    after: options.after,
    limit: options.limit ?? 100,
  });
  return rows.map(domainView);
}

export async function getDomain(tx: Tx, domainId: string): Promise<DomainView> {
  const row = await findDomain(tx, domainId);
  if (row === undefined) throw notFound();
  return domainView(row);
}

export interface DomainServiceOptions {
  readonly store: Store;
  /** How long a deleted domain's slug stays unavailable; 0 frees it at once. */
  readonly slugQuarantineMs: number;
  /**
   * Called after a domain's deletion committed (its Stripe customer is deleted then); a failure is left
   * to the caller's reconciler, never undoes the deletion.
   */
  readonly afterDelete?: ((domainId: string) => Promise<void>) | undefined;
}

export class DomainService {
  constructor(private readonly deps: DomainServiceOptions) {}

  async create(actor: Actor, input: { slug: string; name: string }): Promise<DomainView> {
    const slug = parseSlug(input.slug);
    const name = input.name.trim();
    if (name.length === 0) throw new BulkheadError('invalid_request', 'The name must not be blank.');
    try {
      return await this.deps.store.system('operator', async (tx) => {
        const now = new Date();
        if (await slugDeletedSince(tx, slug, new Date(now.getTime() - this.deps.slugQuarantineMs))) {
          throw new BulkheadError(
            'slug_quarantined',
            `The slug "${slug}" belonged to a domain deleted less than the quarantine period ago.`,
          );
        }
        const row = await insertDomain(tx, { id: newId('domain'), slug, name, at: now });
        await insertEmptyPool(tx, row.id, now);
        await appendAudit(tx, succeeded(actor, row.id, 'domain.create', row.id, { slug }));
        return domainView(row);
      });
    } catch (error) {
      if (isUniqueViolation(error, 'domains_live_slug')) {
        throw new BulkheadError('slug_taken', `A domain with the slug "${slug}" already exists.`);
      }
      throw error;
    }
  }

  async list(options: DomainListOptions = {}): Promise<DomainView[]> {
    return this.deps.store.system('operator', (tx) => listDomains(tx, options));
  }

  async get(domainId: string): Promise<DomainView> {
    return this.deps.store.withDomain(domainId, (tx) => getDomain(tx, domainId));
  }

  /**
   * Suspends the domain for `reason` (`billing` for non-payment: paying its invoices resumes it). A
   * suspended domain suspended again for another reason keeps its suspension and takes the new reason.
   */
  suspend(actor: Actor, domainId: string, reason: string = defaultSuspension): Promise<DomainView> {
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(reason))
      throw new BulkheadError(
        'invalid_request',
        'A suspension reason is 1–32 lowercase letters, digits, "_" or "-".',
      );
    return this.transition(actor, domainId, 'suspended', reason);
  }

  resume(actor: Actor, domainId: string): Promise<DomainView> {
    return this.transition(actor, domainId, 'active');
  }

  /**
   * Marks the domain deleted, revokes every key it has, ends its instances and hands its resources and
   * volumes to the reconcilers, all in one transaction; the reconcilers empty its backends and then
   * purge its rows (services/domain-purge.ts). The row stays for the audit trail.
   */
  async delete(actor: Actor, domainId: string): Promise<DomainView> {
    const deleted = await this.transition(actor, domainId, 'deleted');
    // After the commit: a failure here leaves the work to the reconciler (the domain stays deleted).
    await this.deps.afterDelete?.(domainId).catch(() => undefined);
    return deleted;
  }

  /**
   * In the caller's transaction of the domain: resumes it if it is suspended for non-payment (`billing`),
   * as paying its last unpaid invoice does; a suspension for any other reason stays. True when resumed.
   */
  async liftBillingSuspension(tx: DomainTx, actor: Actor, domainId: string): Promise<boolean> {
    const row = await lockDomain(tx, domainId);
    if (row.status !== 'suspended' || row.suspend_reason !== billingSuspension) return false;
    await this.move(tx, actor, row, 'active', null);
    return true;
  }

  private async transition(
    actor: Actor,
    domainId: string,
    to: DomainStatus,
    reason: string | null = null,
  ): Promise<DomainView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      const row = await lockDomain(tx, domainId);
      if (row.status === 'deleted') {
        throw new BulkheadError('domain_deleted', 'A deleted domain cannot change state.');
      }
      // Already there (with the same reason): nothing to change, nothing to log.
      if (row.status === to && (to !== 'suspended' || (row.suspend_reason ?? defaultSuspension) === reason))
        return domainView(row);
      return domainView(await this.move(tx, actor, row, to, reason));
    });
  }

  private async move(
    tx: DomainTx,
    actor: Actor,
    row: DomainRow,
    to: DomainStatus,
    reason: string | null,
  ): Promise<DomainRow> {
    const domainId = row.id;
    const now = new Date();
    const updated = await setDomainStatus(tx, domainId, {
      status: to,
      at: now,
      suspendedAt: to === 'suspended' ? (row.suspended_at ?? now) : to === 'active' ? null : row.suspended_at,
      deletedAt: to === 'deleted' ? now : null,
      suspendReason: to === 'suspended' ? reason : to === 'active' ? null : undefined,
    });
    let revokedKeys = 0;
    let resources = 0;
    let instances = 0;
    let volumes = 0;
    if (to === 'deleted') {
      revokedKeys = await revokeDomainKeys(tx, domainId, now);
      // Resources and volumes are marked here, in the same transaction, so a crash right after leaves
      // the work to the reconcilers: they remove the resources from their backends and then destroy the
      // domain's data key, zero the volumes, and finally purge the domain's rows.
      resources = await markDomainResourcesForRemoval(tx, domainId, now);
      volumes = await markDomainVolumesDeleting(tx, domainId, now);
      instances = await markDomainInstancesDeleted(tx, domainId, now);
    }
    // Every process forgets the keys it knew to be usable (src/keys/changes.ts).
    if (to !== 'active') await announceKeyChange(this.deps.store, tx, domainId);
    // Verifiers elsewhere drop the domain's tokens while it is suspended or deleted, and take them back on resume.
    await recordRevocation(
      this.deps.store,
      tx,
      to === 'active' ? 'domain_restored' : 'domain',
      domainId,
      domainId,
    );
    const action =
      to === 'suspended' ? 'domain.suspend' : to === 'active' ? 'domain.resume' : 'domain.delete';
    const detail =
      to === 'deleted'
        ? { from: row.status, revokedKeys, resources, instances, volumes }
        : to === 'suspended'
          ? { from: row.status, reason }
          : { from: row.status, ...(row.suspend_reason === null ? {} : { reason: row.suspend_reason }) };
    await appendAudit(tx, succeeded(actor, domainId, action, domainId, detail));
    return updated;
  }
}
