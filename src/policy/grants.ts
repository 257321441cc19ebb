// Cross-domain grants: the only way a principal of one domain may act on another domain's data. The
// operator writes them (from, to, actions, resources, expiry, reason); the policy asks for a live one on
// every cross-domain request, so an expiry or a revocation holds from the very next request. Every
// grant, revocation and use is audited with both domains.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { isId, newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import { lockDomainStatuses } from '../store/repositories/domains.js';
import {
  grantRows,
  insertGrant,
  liveGrantsBetween,
  lockGrant,
  markGrantRevoked,
} from '../store/repositories/grants.js';
import type { GrantRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { rowView } from '../store/views.js';
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
  return rowView(
    row,
    [
      'id',
      'from_domain_id',
      'to_domain_id',
      'actions',
      'resources',
      'reason',
      'created_by',
      'created_at',
      'expires_at',
      'revoked_at',
    ],
    { from_domain_id: 'from', to_domain_id: 'to' },
  );
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
  constructor(
    private readonly o: {
      readonly store: Store;
      /** Hears of each look-up for a grant: whether a live grant allowed it (for metrics). */
      readonly onUse?: (used: boolean) => void;
    },
  ) {}

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
      const domains = await lockDomainStatuses(tx, [input.from, input.to]);
      if (domains.length !== 2 || domains.some((d) => d.status === 'deleted')) throw notFound();
      const row = await insertGrant(tx, {
        id: newId('grant'),
        from: input.from,
        to: input.to,
        actions: [...new Set(input.actions)],
        resources: [...new Set(input.resources)],
        reason: input.reason,
        createdBy: actor.actor,
        at: new Date(now),
        expiresAt: input.expiresAt,
      });
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
      const rows = await grantRows(tx, {
        domainId: filter.domainId,
        liveAt: filter.includeInactive === true ? undefined : new Date(),
      });
      return rows.map(grantView);
    });
  }

  async revoke(actor: Actor, grantId: string): Promise<GrantView> {
    return this.o.store.system('operator', async (tx) => {
      const existing = await lockGrant(tx, grantId);
      if (existing === undefined) throw notFound();
      if (existing.revoked_at !== null) return grantView(existing);
      const row = await markGrantRevoked(tx, grantId, new Date());
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
      const candidates = await liveGrantsBetween(tx, from, to, new Date());
      const grant = candidates.find(
        (g) =>
          g.actions.includes(action) &&
          (g.resources.includes('*') || (resourceId !== null && g.resources.includes(resourceId))),
      );
      this.o.onUse?.(grant !== undefined);
      if (grant === undefined) return null;
      await appendAudit(
        tx,
        succeeded(actor, to, 'grant.use', resourceId ?? to, {
          grantId: grant.id,
          fromDomainId: from,
          toDomainId: to,
          action,
          route,
        }),
      );
      return grantView(grant);
    });
  }
}
