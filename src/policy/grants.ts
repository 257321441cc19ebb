// Cross-domain grants: the only way a principal of one domain may act on another domain's data. The
// operator writes them (from, to, actions, resources, expiry, reason); the policy asks for a live one on
// every cross-domain request, so an expiry or a revocation holds from the very next request. Every
// grant, revocation and use is audited with both domains.
import { appendAudit } from '../audit/log.js';
import { isId, newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { GrantRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Actor } from './principal.js';
import { grantableActions, type GrantableAction } from './grantable.js';

export { grantableActions, type GrantableAction };

/** The longest a grant may live. */
export const maxGrantSeconds = 90 * 86_400;

export interface GrantView {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
}

function grantView(row: GrantRow): GrantView {
  return {
    id: row.id,
    from: row.from_domain_id,
    to: row.to_domain_id,
    actions: row.actions,
    resources: row.resources,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

export interface GrantInput {
  readonly from: string;
  readonly to: string;
  readonly actions: readonly string[];
  /** `*` for every resource of the granting domain, or ids of its instances, volumes or resources. */
  readonly resources: readonly string[];
  readonly expiresAt: Date;
  readonly reason: string;
}

const resourceSelector = (s: string) =>
  s === '*' || isId('instance', s) || isId('volume', s) || isId('resource', s);

export class GrantService {
  constructor(private readonly o: { readonly store: Store }) {}

  async create(actor: Actor, input: GrantInput): Promise<GrantView> {
    if (input.from === input.to)
      throw new BulkheadError('invalid_request', 'A grant is between two different domains.');
    const unknownAction = input.actions.find((a) => !(grantableActions as readonly string[]).includes(a));
    if (unknownAction !== undefined)
      throw new BulkheadError(
        'invalid_request',
        `"${unknownAction}" cannot be granted; grantable actions: ${grantableActions.join(', ')}.`,
      );
    const badSelector = input.resources.find((r) => !resourceSelector(r));
    if (badSelector !== undefined)
      throw new BulkheadError('invalid_request', `"${badSelector}" is neither "*" nor a resource id.`);
    const now = Date.now();
    if (input.expiresAt.getTime() <= now)
      throw new BulkheadError('invalid_request', 'expiresAt must be in the future.');
    if (input.expiresAt.getTime() > now + maxGrantSeconds * 1000)
      throw new BulkheadError(
        'invalid_request',
        `A grant may last at most ${maxGrantSeconds / 86_400} days.`,
      );
    return this.o.store.system('operator', async (tx) => {
      const domains = await tx
        .selectFrom('domains')
        .select(['id', 'status'])
        .where('id', 'in', [input.from, input.to])
        .forUpdate()
        .execute();
      if (domains.length !== 2 || domains.some((d) => d.status === 'deleted')) throw notFound();
      const row = await tx
        .insertInto('grants')
        .values({
          id: newId('grant'),
          from_domain_id: input.from,
          to_domain_id: input.to,
          actions: JSON.stringify([...new Set(input.actions)]),
          resources: JSON.stringify([...new Set(input.resources)]),
          reason: input.reason,
          created_by: actor.actor,
          created_at: new Date(now),
          expires_at: input.expiresAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const detail = {
        grantId: row.id,
        fromDomainId: row.from_domain_id,
        toDomainId: row.to_domain_id,
        actions: row.actions,
        resources: row.resources,
        expiresAt: row.expires_at.toISOString(),
        reason: row.reason,
      };
      // One event in each domain's trail: the one that opens its data and the one that may now reach it.
      for (const domainId of [row.to_domain_id, row.from_domain_id]) {
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'grant.create',
          target: row.id,
          outcome: 'success',
          detail,
        });
      }
      return grantView(row);
    });
  }

  async list(filter: { domainId?: string | undefined; includeInactive?: boolean | undefined } = {}) {
    return this.o.store.system('operator', async (tx) => {
      let q = tx.selectFrom('grants').selectAll();
      if (filter.domainId !== undefined) {
        const id = filter.domainId;
        q = q.where((eb) => eb.or([eb('from_domain_id', '=', id), eb('to_domain_id', '=', id)]));
      }
      if (filter.includeInactive !== true)
        q = q.where('revoked_at', 'is', null).where('expires_at', '>', new Date());
      return (await q.orderBy('id').limit(1000).execute()).map(grantView);
    });
  }

  async revoke(actor: Actor, grantId: string): Promise<GrantView> {
    return this.o.store.system('operator', async (tx) => {
      const existing = await tx
        .selectFrom('grants')
        .selectAll()
        .where('id', '=', grantId)
        .forUpdate()
        .executeTakeFirst();
      if (existing === undefined) throw notFound();
      if (existing.revoked_at !== null) return grantView(existing);
      const row = await tx
        .updateTable('grants')
        .set({ revoked_at: new Date() })
        .where('id', '=', grantId)
        .returningAll()
        .executeTakeFirstOrThrow();
      const detail = { grantId, fromDomainId: row.from_domain_id, toDomainId: row.to_domain_id };
      for (const domainId of [row.to_domain_id, row.from_domain_id]) {
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'grant.revoke',
          target: grantId,
          outcome: 'success',
          detail,
        });
      }
      return grantView(row);
    });
  }

  /**
   * The live grant that lets `from` do `action` on `resourceId` (or on the whole domain when null, which
   * only a `*` grant allows) in `to`, recording the use in the same transaction; null when none does.
   */
  async use(
    actor: Actor,
    from: string,
    to: string,
    action: string,
    resourceId: string | null,
    route: string,
  ): Promise<GrantView | null> {
    if (!isId('domain', to)) return null;
    return this.o.store.system('grants', async (tx) => {
      const now = new Date();
      const candidates = await tx
        .selectFrom('grants')
        .innerJoin('domains as f', 'f.id', 'grants.from_domain_id')
        .innerJoin('domains as t', 't.id', 'grants.to_domain_id')
        .selectAll('grants')
        .where('grants.to_domain_id', '=', to)
        .where('grants.from_domain_id', '=', from)
        .where('grants.revoked_at', 'is', null)
        .where('grants.expires_at', '>', now)
        .where('f.status', '=', 'active')
        .where('t.status', '=', 'active')
        .execute();
      const grant = candidates.find(
        (g) =>
          g.actions.includes(action) &&
          (g.resources.includes('*') || (resourceId !== null && g.resources.includes(resourceId))),
      );
      if (grant === undefined) return null;
      await appendAudit(tx, {
        ...actor,
        domainId: to,
        action: 'grant.use',
        target: resourceId ?? to,
        outcome: 'success',
        detail: { grantId: grant.id, fromDomainId: from, toDomainId: to, action, route },
      });
      return grantView(grant);
    });
  }
}
