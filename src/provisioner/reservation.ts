// The reservation. A resource is bound to its domain when it is reserved: the key (live, scoped to the
// kind), the domain (active) and the pool's quota are checked in the one transaction that inserts the
// resource, with the domain row locked, so a revocation or suspension that commits first is always seen.
// The common case takes one round trip; when it inserts nothing, one fallback finds out why, and
// answers and audits it. Both paths read the key's liveness through the same rule (`liveKey`).
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import type { KeyPrincipal, PendingKeyUse } from '../keys/service.js';
import type { Actor } from '../policy/principal.js';
import { allows, scopeDenied } from '../policy/scopes.js';
import { backendName } from '../providers/provider.js';
import {
  lockDomainIfAny,
  lockDomainStatement,
  wrappedDataKeyStatement,
} from '../store/repositories/domains.js';
import {
  insertReserved,
  reservationFacts,
  reserveIfAllowedStatement,
  resourceInserted,
  type Reservation,
} from '../store/repositories/reservations.js';
import { resourceByIdempotencyKey } from '../store/repositories/resources.js';
import { isUniqueViolation } from '../store/errors.js';
import type { ResourceRow } from '../store/schema.js';
import type { ProvisionerContext } from './context.js';
import { created } from './events.js';
import { effectiveQuotas } from '../domain/quotas.js';

/** What a create asks for. */
export interface CreateOptions {
  readonly principal: KeyPrincipal;
  readonly requestId: string | null;
  /** The domain to create in: the key's own. */
  readonly domainId: string;
  readonly kind: ResourceKind;
  readonly name: string;
  /** The blueprint the resource is a step of. */
  readonly blueprintId?: string | undefined;
  /** A repeated key answers with the resource the first request made. */
  readonly idempotencyKey?: string | undefined;
  /** The key's use, when the request left recording it to the reservation (`authenticateLater`). */
  readonly use?: PendingKeyUse | undefined;
}

export interface Reserved {
  readonly row: ResourceRow;
  /** True when an earlier request with the same idempotency key made it. */
  readonly replay: boolean;
  /** The domain's wrapped data key, when the reservation read it, for sealing the credentials. */
  readonly wrappedKey: string | null;
}

/** Reserves a resource for the key's domain, or throws why not (every refusal is audited). */
export async function reserve(ctx: ProvisionerContext, o: CreateOptions): Promise<Reserved> {
  const actor: Actor = { actor: o.principal.actor, requestId: o.requestId };
  const quick = await reserveInOneMessage(ctx, actor, o);
  if (quick !== null) return quick;
  // The fallback records the key's use first, on its own: a key revoked meanwhile is refused there.
  await o.use?.record();
  return reserveOrSayWhy(ctx, actor, o);
}

function reservation(ctx: ProvisionerContext, o: CreateOptions, keyId: string, at: Date): Reservation {
  const id = newId('resource');
  return {
    id,
    domainId: o.domainId,
    kind: o.kind,
    name: o.name,
    backendName: backendName({ domainId: o.domainId, resourceId: id }),
    idempotencyKey: o.idempotencyKey ?? null,
    keyId,
    blueprintId: o.blueprintId ?? null,
    leaseUntil: new Date(at.getTime() + ctx.leaseMs),
    at,
    backend: ctx.placement.provider(o.kind).backend,
  };
}

/**
 * The reservation of the common case, in one round trip and one commit: the domain row is locked, then
 * a single statement inserts the backend name and the resource only if the key is live and scoped for
 * the kind, the domain active and the pool has room, and the audit event follows when it did. Every
 * check reads after the lock is held, so a revocation or suspension that committed first is seen, as in
 * `reserveOrSayWhy`. Null when it inserted nothing or hit a unique index (a taken name, a repeated
 * idempotency key): the fallback then runs, finds out why, and answers and audits it. Also reads the
 * domain's wrapped data key, for sealing the credentials without another round trip.
 */
async function reserveInOneMessage(
  ctx: ProvisionerContext,
  actor: Actor,
  o: CreateOptions,
): Promise<Reserved | null> {
  const r = reservation(ctx, o, o.principal.keyId, new Date());
  const inserted = resourceInserted(r.id);
  let results;
  try {
    results = await ctx.store.change(o.domainId, async (db) => {
      const lock = lockDomainStatement(db, o.domainId);
      const insert = reserveIfAllowedStatement(db, r, ctx.quotas.resourcesPerKind);
      // The key's use, when the request left it to this change, counts with the reservation only.
      await o.use?.deferTo(db, inserted);
      await appendAudit(db, created(actor, o.domainId, r.id, o, r.backendName, o.principal.keyId), {
        when: inserted,
      });
      return [lock, insert, wrappedDataKeyStatement(db, o.domainId)] as const;
    });
  } catch (error) {
    // A taken name or a repeated idempotency key: nothing of the message counted.
    if (isUniqueViolation(error)) return null;
    throw error;
  }
  const [, [row], [key]] = results;
  if (row === undefined) return null;
  o.use?.recorded();
  return { row, replay: false, wrappedKey: key?.wrapped_key ?? null };
}

/**
 * The resource this idempotency key made was asked for with another kind or name: the same answer as the
 * HTTP layer's for a key reused with another body (the key stays on the resource beyond its 24 hours).
 */
const keyReused = () =>
  new BulkheadError(
    'idempotency_key_reused',
    'This idempotency key made another resource: use a new key for a new request.',
  );

type Outcome =
  | { ok: true; row: ResourceRow; replay: boolean }
  | { ok: false; denied: 'invalid_credentials' | 'scope_denied' | 'idempotency_conflict' }
  | { ok: false; denied: 'quota_exceeded'; quota: number };

/** The reservation step by step, in one transaction with the domain row locked: says why when it cannot. */
async function reserveOrSayWhy(ctx: ProvisionerContext, actor: Actor, o: CreateOptions): Promise<Reserved> {
  const { domainId, kind } = o;
  let outcome: Outcome;
  try {
    outcome = await ctx.store.withDomain(domainId, async (tx): Promise<Outcome> => {
      const domain = await lockDomainIfAny(tx, domainId);
      // Read after the lock is held, in one statement: the key (revocation and suspension take the
      // same lock, so this sees any that committed first), the pool's quotas and the live count.
      const now = new Date();
      const facts = await reservationFacts(tx, { domainId, keyId: o.principal.keyId, kind, at: now });
      // A refusal is recorded in the same transaction, so the audit trail shows every attempt.
      const deny = (reason: string, extra: Record<string, unknown> = {}) =>
        appendAudit(tx, {
          ...actor,
          domainId,
          action: 'resource.create',
          target: null,
          outcome: 'denied',
          detail: { kind, reason, ...extra },
        });
      if (domain === undefined || facts === undefined || !facts.live) {
        await deny('credential_no_longer_valid');
        return { ok: false, denied: 'invalid_credentials' };
      }
      if (!allows(facts.scopes, kind, 'create')) {
        await deny('scope');
        return { ok: false, denied: 'scope_denied' };
      }
      if (o.idempotencyKey !== undefined) {
        const existing = await resourceByIdempotencyKey(tx, domainId, o.idempotencyKey);
        if (existing !== undefined) {
          if (existing.kind !== kind || existing.name !== o.name)
            return { ok: false, denied: 'idempotency_conflict' };
          return { ok: true, row: existing, replay: true };
        }
      }
      const quota = effectiveQuotas(ctx.quotas, facts.poolQuotas)[kind];
      if (facts.count >= quota) {
        await deny('quota', { quota });
        return { ok: false, denied: 'quota_exceeded', quota };
      }
      // The backend name is reserved for good in the same statement that inserts the resource.
      const r = reservation(ctx, o, facts.keyId, now);
      const row = await insertReserved(tx, r);
      await appendAudit(tx, created(actor, domainId, r.id, o, r.backendName, facts.keyId));
      return { ok: true, row, replay: false };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'resources_live_name')) {
      throw new BulkheadError('name_taken', `A ${kind} resource named "${o.name}" already exists.`);
    }
    if (isUniqueViolation(error, 'resources_idempotency') && o.idempotencyKey !== undefined) {
      // A concurrent request with the same key won the race: answer with its result.
      const key = o.idempotencyKey;
      const existing = await ctx.store.withDomain(domainId, (tx) =>
        resourceByIdempotencyKey(tx, domainId, key),
      );
      if (existing === undefined) throw error;
      if (existing.kind !== kind || existing.name !== o.name) throw keyReused();
      return { row: existing, replay: true, wrappedKey: null };
    }
    throw error;
  }
  if (outcome.ok) return { row: outcome.row, replay: outcome.replay, wrappedKey: null };
  switch (outcome.denied) {
    case 'invalid_credentials':
      throw new BulkheadError('invalid_credentials');
    case 'scope_denied':
      throw scopeDenied(kind, 'create');
    case 'idempotency_conflict':
      throw keyReused();
    case 'quota_exceeded':
      throw new BulkheadError(
        'quota_exceeded',
        `The domain may have at most ${outcome.quota} ${kind} resources.`,
      );
  }
}
