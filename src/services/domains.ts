// Domains: creation, listing and the active → suspended → deleted life cycle. Each change and its
// audit event commit together; the domain row is locked while its status changes.
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { normaliseSlug, parseSlug } from '../domain/slug.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { DomainRow, DomainStatus } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import { recordRevocation } from '../identity/revocations.js';
import { lockDomain } from '../store/repositories/domains.js';

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
  readonly deletedAt: string | null;
}

export function domainView(row: DomainRow): DomainView {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    suspendedAt: row.suspended_at?.toISOString() ?? null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

export interface DomainListOptions {
  readonly status?: DomainStatus | undefined;
  /** Matches the normalised slug. */
  readonly slug?: string | undefined;
  readonly includeDeleted?: boolean | undefined;
  readonly after?: string | undefined;
  readonly limit?: number | undefined;
}

/** Domains by filter: the system context lists every domain, a domain's own context only itself. */
export async function listDomains(tx: Tx, options: DomainListOptions = {}): Promise<DomainView[]> {
  let q = tx.selectFrom('domains').selectAll();
  if (options.status !== undefined) q = q.where('status', '=', options.status);
  else if (options.includeDeleted !== true) q = q.where('status', '<>', 'deleted');
  if (options.slug !== undefined) q = q.where('slug', '=', normaliseSlug(options.slug.trim()));
  if (options.after !== undefined) q = q.where('id', '>', options.after);
  const rows = await q
    .orderBy('id', 'asc')
    .limit(options.limit ?? 100)
    .execute();
  return rows.map(domainView);
}

export async function getDomain(tx: Tx, domainId: string): Promise<DomainView> {
  const row = await tx.selectFrom('domains').selectAll().where('id', '=', domainId).executeTakeFirst();
  if (row === undefined) throw notFound();
  return domainView(row);
}

export interface DomainServiceOptions {
  readonly store: Store;
  /** How long a deleted domain's slug stays unavailable; 0 frees it at once. */
  readonly slugQuarantineMs: number;
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
        const recent = await tx
          .selectFrom('domains')
          .select('id')
          .where('slug', '=', slug)
          .where('status', '=', 'deleted')
          .where('deleted_at', '>', new Date(now.getTime() - this.deps.slugQuarantineMs))
          .executeTakeFirst();
        if (recent !== undefined) {
          throw new BulkheadError(
            'slug_quarantined',
            `The slug "${slug}" belonged to a domain deleted less than the quarantine period ago.`,
          );
        }
        const row = await tx
          .insertInto('domains')
          .values({ id: newId('domain'), slug, name, status: 'active', created_at: now, updated_at: now })
          .returningAll()
          .executeTakeFirstOrThrow();
        await tx.insertInto('pools').values({ domain_id: row.id, quotas: '{}', updated_at: now }).execute();
        await appendAudit(tx, {
          ...actor,
          domainId: row.id,
          action: 'domain.create',
          target: row.id,
          outcome: 'success',
          detail: { slug },
        });
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

  suspend(actor: Actor, domainId: string): Promise<DomainView> {
    return this.transition(actor, domainId, 'suspended');
  }

  resume(actor: Actor, domainId: string): Promise<DomainView> {
    return this.transition(actor, domainId, 'active');
  }

  /** Marks the domain deleted and revokes every key it has. The row stays for the audit trail. */
  delete(actor: Actor, domainId: string): Promise<DomainView> {
    return this.transition(actor, domainId, 'deleted');
  }

  private async transition(actor: Actor, domainId: string, to: DomainStatus): Promise<DomainView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      const row = await lockDomain(tx, domainId);
      if (row.status === 'deleted') {
        throw new BulkheadError('domain_deleted', 'A deleted domain cannot change state.');
      }
      if (row.status === to) return domainView(row); // already there: nothing to change, nothing to log
      const now = new Date();
      const updated = await tx
        .updateTable('domains')
        .set({
          status: to,
          updated_at: now,
          suspended_at: to === 'suspended' ? now : to === 'active' ? null : row.suspended_at,
          deleted_at: to === 'deleted' ? now : null,
        })
        .where('id', '=', domainId)
        .returningAll()
        .executeTakeFirstOrThrow();
      let revokedKeys = 0;
      let resources = 0;
      if (to === 'deleted') {
        const revoked = await tx
          .updateTable('provisioning_keys')
          .set({ revoked_at: now })
          .where('domain_id', '=', domainId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        revokedKeys = Number(revoked.numUpdatedRows);
        // Resources are marked here, in the same transaction; the reconciler removes them from their
        // backends and then destroys the domain's data key.
        const marked = await tx
          .updateTable('resources')
          .set({ status: 'deprovisioning', lease_until: null, updated_at: now })
          .where('domain_id', '=', domainId)
          .where('status', '<>', 'deleted')
          .executeTakeFirst();
        resources = Number(marked.numUpdatedRows);
      }
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
      await appendAudit(tx, {
        ...actor,
        domainId,
        action,
        target: domainId,
        outcome: 'success',
        detail: to === 'deleted' ? { from: row.status, revokedKeys, resources } : { from: row.status },
      });
      return domainView(updated);
    });
  }
}
