// A reserved resource's life after its reservation commits: the backend works under a lease, then the
// outcome (ready, failed, deleted) is recorded with its audit event in one transaction. Every move names
// the status it leaves, so a row another process moved on meanwhile is left to it. Deletion marks the
// row first, so a crash resumes it; the reconciler finishes or undoes anything a crash left half done.
import { succeeded, type AuditAction } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { BulkheadError } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { everyKind, type KindCheck } from '../policy/scopes.js';
import { backendFailure } from '../providers/failure.js';
import type { Credentials, Provider, ResourceRef } from '../providers/provider.js';
import { lockDomain } from '../store/repositories/domains.js';
import {
  changedInThisTransaction,
  lockResource,
  markDeleted,
  markDeprovisioning,
  markFailed,
  markReady,
  markReadyStatement,
  renewResourceLease,
  resourceById,
  resourceQuery,
} from '../store/repositories/resources.js';
import type { ResourceRow, ResourceStatus } from '../store/schema.js';
import type { DomainTx } from '../store/store.js';
import { credentialsPurpose, type ProvisionerContext } from './context.js';
import { refused, transition } from './events.js';

/**
 * Removes a resource from its backend while renewing its lease every third of the lease, so a reconciler
 * on another server never takes a delete that is still in flight here, however long the backend takes.
 * The lease is left to run out afterwards (the caller records the outcome).
 */
export async function deleteUnderLease(
  ctx: ProvisionerContext,
  provider: Provider,
  ref: ResourceRef,
): Promise<void> {
  const renew = () =>
    ctx.store
      .withDomain(ref.domainId, (tx) =>
        renewResourceLease(tx, ref.resourceId, new Date(Date.now() + ctx.leaseMs)),
      )
      .catch(() => false);
  let renewing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewing = renewing.then(renew);
    },
    Math.max(10, Math.floor(ctx.leaseMs / 3)),
  );
  try {
    await ctx.slowAt('slow-delete');
    await provider.delete(ref);
  } finally {
    clearInterval(timer);
    await renewing;
  }
}

/** Talks to the backend for a reserved resource and records the outcome. */
export async function allocate(
  ctx: ProvisionerContext,
  provider: Provider,
  row: ResourceRow,
  actor: Actor,
  wrappedKey: string | null = null,
): Promise<ResourceRow> {
  const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
  let credentials: Credentials;
  try {
    credentials = await provider.create(ref);
  } catch (error) {
    return fail(ctx, provider, row, actor, error);
  }
  ctx.crashAt('after-allocate');
  const ready =
    wrappedKey === null
      ? await recordReady(ctx, row, actor, credentials)
      : await recordReadyInOneMessage(ctx, row, actor, credentials, wrappedKey);
  if (ready !== undefined) return ready;
  // The row moved on while the backend worked. Another process may have finished it (its lease ran
  // out and the reconciler took it over): the backend object is then theirs, and stays.
  const [[now]] = await ctx.store.read(row.domain_id, (db) => [resourceQuery(db, row.id)]);
  if (now?.status === 'ready') return now;
  // Otherwise it was marked for deletion (its domain was deleted): undo.
  await provider.delete(ref);
  return finishDeletion(ctx, row.domain_id, row.id, actor);
}

/**
 * Records a resource ready with its credentials, sealed under the domain's data key as the reservation
 * read it, and its audit event, in one round trip; undefined when the row moved on (`recordReady`).
 */
async function recordReadyInOneMessage(
  ctx: ProvisionerContext,
  row: ResourceRow,
  actor: Actor,
  credentials: Credentials,
  wrappedKey: string,
): Promise<ResourceRow | undefined> {
  const sealed = ctx.keyring.encryptWithWrapped(
    wrappedKey,
    row.domain_id,
    credentialsPurpose(row.id),
    credentials,
  );
  const [[ready]] = await ctx.store.change(row.domain_id, async (db) => {
    const update = markReadyStatement(db, row.id, sealed);
    // Appended only if the update above changed the row: its version is then this transaction's.
    await appendAudit(
      db,
      transition(
        actor,
        { domainId: row.domain_id, resourceId: row.id, kind: row.kind, error: null },
        'resource.ready',
        'provisioning',
        'ready',
      ),
      { when: changedInThisTransaction(row.id) },
    );
    return [update] as const;
  });
  return ready;
}

/** Records a resource ready with its credentials, and its audit event; undefined when the row moved on. */
function recordReady(
  ctx: ProvisionerContext,
  row: ResourceRow,
  actor: Actor,
  credentials: Credentials,
): Promise<ResourceRow | undefined> {
  return settle(ctx, row.domain_id, row.id, 'provisioning', actor, 'resource.ready', async (tx) =>
    markReady(
      tx,
      row.id,
      await ctx.keyring.encryptIn(tx, row.domain_id, credentialsPurpose(row.id), credentials),
    ),
  );
}

/**
 * Records a failed allocation and answers it with the backend's reason. What the backend made is undone
 * first (the reconciler tries again when that fails too). A refusal before anything was made (an unsafe
 * server, no connection at all) has nothing to undo: the resource is `failed` and `refused`, and gives
 * up its name and its place in the quota, so the same create can be made again once the cause is fixed.
 */
async function fail(
  ctx: ProvisionerContext,
  provider: Provider,
  row: ResourceRow,
  actor: Actor,
  error: unknown,
): Promise<never> {
  const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
  const failure = backendFailure(error, provider.backend);
  let undone = true;
  if (!failure.nothingMade) {
    try {
      await provider.delete(ref);
    } catch {
      undone = false; // the reconciler tries again
    }
  }
  await settle(ctx, row.domain_id, row.id, 'provisioning', actor, 'resource.failed', (tx) =>
    markFailed(tx, row.id, {
      undone,
      refused: failure.nothingMade,
      error: `${failure.reason}: ${failure.message}`,
    }),
  );
  throw new BulkheadError(
    'provisioning_failed',
    `The backend did not allocate resource ${row.id} (${failure.reason}): ${failure.message}.` +
      (failure.nothingMade ? ' Nothing was made; the same create may be made again.' : ''),
    { cause: error, reason: failure.reason, hint: failure.hint },
  );
}

/** Runs a state change and its audit event in one transaction; undefined when the row moved on. */
export function settle(
  ctx: ProvisionerContext,
  domainId: string,
  resourceId: string,
  from: ResourceStatus,
  actor: Actor,
  action: AuditAction,
  change: (tx: DomainTx) => Promise<ResourceRow | undefined>,
): Promise<ResourceRow | undefined> {
  return ctx.store.withDomain(domainId, async (tx) => {
    const row = await change(tx);
    if (row === undefined) return undefined;
    await appendAudit(
      tx,
      transition(
        actor,
        { domainId: row.domain_id, resourceId, kind: row.kind, error: row.error },
        action,
        from,
        row.status,
      ),
    );
    return row;
  });
}

/** Records a resource gone from its backend (once), and answers its row. */
export async function finishDeletion(
  ctx: ProvisionerContext,
  domainId: string,
  resourceId: string,
  actor: Actor,
): Promise<ResourceRow> {
  const row = await settle(ctx, domainId, resourceId, 'deprovisioning', actor, 'resource.deleted', (tx) =>
    markDeleted(tx, resourceId),
  );
  return row ?? (await ctx.store.withDomain(domainId, (tx) => resourceById(tx, resourceId)));
}

/**
 * Deprovisions a resource: marked first (so a crash resumes it), then removed from the backend. `check`
 * sees the locked row's kind before anything changes.
 */
export async function deleteResource(
  ctx: ProvisionerContext,
  actor: Actor,
  domainId: string,
  resourceId: string,
  check: KindCheck = everyKind,
): Promise<ResourceRow> {
  const marked = await ctx.store.withDomain(domainId, async (tx) => {
    await lockDomain(tx, domainId);
    const row = await lockResource(tx, domainId, resourceId);
    check(row.kind);
    if (row.status === 'deleted') return { row, changed: false };
    // A resource on a backend this server does not reach stays exactly as it is: marking it would let
    // nothing remove it here, and removing nothing must never be reported as deleting it. A create its
    // backend refused made nothing there, so it goes without asking any backend.
    const placed = ctx.placement.placed(row, 'delete');
    if ('refusal' in placed && !row.refused) {
      await appendAudit(tx, refused(actor, row, 'resource.delete', placed.refusal));
      return { row, changed: false, refusal: placed.refusal };
    }
    const updated = await markDeprovisioning(tx, resourceId, new Date(Date.now() + ctx.leaseMs));
    await appendAudit(
      tx,
      succeeded(actor, domainId, 'resource.delete', resourceId, { kind: row.kind, from: row.status }),
    );
    return { row: updated, changed: true };
  });
  if ('refusal' in marked) throw marked.refusal;
  if (!marked.changed) return marked.row;
  ctx.crashAt('after-mark-delete');
  if (marked.row.refused) return finishDeletion(ctx, domainId, resourceId, actor);
  const provider = ctx.placement.providerOf(marked.row, 'delete');
  try {
    await deleteUnderLease(ctx, provider, { domainId, resourceId });
  } catch (error) {
    // Marked, so the reconciler finishes it once the backend answers; meanwhile it is not deleted.
    const failure = backendFailure(error, provider.backend);
    throw new BulkheadError(
      'provisioning_failed',
      `The backend could not remove ${resourceId} yet (${failure.reason}): ${failure.message}. It stays ` +
        'deprovisioning and is removed once the backend answers.',
      { cause: error, reason: failure.reason, hint: failure.hint },
    );
  }
  return finishDeletion(ctx, domainId, resourceId, actor);
}
