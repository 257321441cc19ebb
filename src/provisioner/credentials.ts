// A ready resource's credentials: read (decrypted, and the reading audited), rotated (the backend issues
// new ones and the store keeps them sealed under the domain's data key), and used for the backend's own
// isolation probe. Only a principal of the resource's own domain reaches these; credentials of a backend
// this server does not reach are neither handed out nor rotated by it.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { everyKind, type KindCheck } from '../policy/scopes.js';
import { backendFailure } from '../providers/failure.js';
import {
  isProviderError,
  type BackendIdentity,
  type Credentials,
  type ProbeReport,
  type ResourceRef,
} from '../providers/provider.js';
import { lockResource, storeCredentials } from '../store/repositories/resources.js';
import { credentialsPurpose, type ProvisionerContext } from './context.js';
import { refused } from './events.js';
import { resourceRow } from './reads.js';

/**
 * The resource's credentials, decrypted; only a principal of its own domain reaches this. `check` sees
 * the stored kind before anything is decrypted or audited as read.
 */
export async function readCredentials(
  ctx: ProvisionerContext,
  actor: Actor,
  domainId: string,
  resourceId: string,
  check: KindCheck = everyKind,
): Promise<Credentials> {
  const row = await resourceRow(ctx.store, domainId, resourceId);
  check(row.kind);
  if (row.status !== 'ready' || row.credentials === null) {
    throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
  }
  // Credentials this server could neither rotate nor vouch for are not handed out by it.
  const placed = ctx.placement.placed(row, 'read the credentials of');
  if ('refusal' in placed) {
    await ctx.store.withDomain(domainId, (tx) =>
      appendAudit(tx, refused(actor, row, 'resource.credentials', placed.refusal)),
    );
    throw placed.refusal;
  }
  const credentials = await ctx.keyring.decrypt<Credentials>(
    domainId,
    credentialsPurpose(resourceId),
    row.credentials,
  );
  await ctx.store.withDomain(domainId, (tx) =>
    appendAudit(tx, succeeded(actor, domainId, 'resource.credentials', resourceId)),
  );
  return credentials;
}

/**
 * Issues new credentials for a ready resource and returns them once: the backend's old ones stop
 * working for new logins (a new password, a new token; Redis and RabbitMQ also end live connections),
 * and the new ones are stored encrypted. The resource row stays locked while the backend works, so two
 * rotations (or a rotation and a delete) never leave the store holding credentials the backend has
 * already replaced. A backend failure changes nothing in the store and is audited. `check` sees the
 * locked row's kind before the backend is asked.
 */
export async function rotateCredentials(
  ctx: ProvisionerContext,
  actor: Actor,
  domainId: string,
  resourceId: string,
  check: KindCheck = everyKind,
): Promise<Credentials> {
  let kind: string | null = null;
  let backend: BackendIdentity | null = null;
  let refusal: BulkheadError | null = null;
  try {
    const rotated = await ctx.store.withDomain(domainId, async (tx) => {
      const row = await lockResource(tx, domainId, resourceId);
      check(row.kind);
      if (row.status !== 'ready') {
        throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
      }
      const placed = ctx.placement.placed(row, 'rotate the credentials of');
      if ('refusal' in placed) {
        // Recorded, and nothing else changes: the error is thrown once this has committed.
        refusal = placed.refusal;
        await appendAudit(tx, refused(actor, row, 'resource.credentials_rotated', placed.refusal));
        return null;
      }
      kind = row.kind;
      backend = placed.provider.backend;
      const credentials = await placed.provider.credentials({ domainId, resourceId });
      const sealed = await ctx.keyring.encryptIn(tx, domainId, credentialsPurpose(resourceId), credentials);
      await storeCredentials(tx, resourceId, sealed);
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'resource.credentials_rotated', resourceId, { kind: row.kind }),
      );
      return credentials;
    });
    if (rotated === null) throw refusal ?? new Error('unreachable');
    return rotated;
  } catch (error) {
    if (error instanceof BulkheadError || kind === null || backend === null) throw error;
    const failedKind: string = kind;
    const failure = backendFailure(error, backend);
    await ctx.store.withDomain(domainId, (tx) =>
      appendAudit(tx, {
        ...actor,
        domainId,
        action: 'resource.credentials_rotated',
        target: resourceId,
        outcome: 'failure',
        detail: {
          kind: failedKind,
          reason: failure.reason,
          error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
        },
      }),
    );
    throw new BulkheadError(
      'provisioning_failed',
      `The backend could not issue new credentials for ${resourceId} (${failure.reason}): ${failure.message}.`,
      { cause: error, reason: failure.reason, hint: failure.hint },
    );
  }
}

/**
 * Runs the backend's own isolation probe: with A's credentials, try B's resource. Both must be ready
 * resources of the same kind in two different domains. The credentials are read (and their reading
 * audited in each domain) here and go no further than the provider; only the attempts come back.
 */
export async function probeIsolation(
  ctx: ProvisionerContext,
  actor: Actor,
  a: ResourceRef,
  b: ResourceRef,
): Promise<{ kind: ResourceKind; report: ProbeReport }> {
  if (a.domainId === b.domainId)
    throw new BulkheadError('invalid_request', 'A and B must be resources of two different domains.');
  const [rowA, rowB] = await Promise.all([
    resourceRow(ctx.store, a.domainId, a.resourceId),
    resourceRow(ctx.store, b.domainId, b.resourceId),
  ]);
  if (rowA.kind !== rowB.kind)
    throw new BulkheadError(
      'invalid_request',
      `A is ${rowA.kind} and B is ${rowB.kind}: give two of one kind.`,
    );
  const provider = ctx.placement.providerOf(rowA, 'probe');
  ctx.placement.providerOf(rowB, 'probe');
  const [credentialsA, credentialsB] = await Promise.all([
    readCredentials(ctx, actor, a.domainId, a.resourceId),
    readCredentials(ctx, actor, b.domainId, b.resourceId),
  ]);
  try {
    const report = await provider.probeIsolation(
      { ref: a, credentials: credentialsA },
      { ref: b, credentials: credentialsB },
    );
    return { kind: provider.kind, report };
  } catch (error) {
    // A provider's own setup refusal says why in its words; a driver's message stays in the log.
    const setup = isProviderError(error, 'probe_setup');
    throw new BulkheadError(
      'probe_failed',
      `The ${provider.kind} probe could not run${setup ? `: ${(error as Error).message}` : '.'}`,
      { cause: error },
    );
  }
}
