// The reconciler: finishes or undoes every resource a crash left half done (its lease ran out), removes
// backend objects whose resource is gone, and destroys the data keys of deleted domains once nothing of
// theirs is left. It crosses domains only to find the work (system context, purpose `reconciler`); each
// change it makes runs in the resource's own domain. One pass at a time per process, on a schedule.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import type { Actor } from '../policy/principal.js';
import type { OwnedObject, ResourceRef } from '../providers/provider.js';
import { deletedDomainsToShred, domainStatus } from '../store/repositories/domains.js';
import {
  claimResource,
  markAbandoned,
  recordAttemptFailure,
  resourceOwner,
  unfinishedResources,
} from '../store/repositories/resources.js';
import type { ResourceRow } from '../store/schema.js';
import type { ProvisionerContext } from './context.js';
import { allocate, deleteUnderLease, finishDeletion, settle } from './lifecycle.js';

export interface ReconcileReport {
  readonly finished: number;
  readonly undone: number;
  readonly deleted: number;
  readonly failed: number;
  readonly orphansRemoved: number;
  readonly keysDestroyed: number;
}

const maxAttempts = 5;
const actor: Actor = { actor: 'system:reconciler', requestId: null };

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ReconcileReport> | null = null;

  constructor(
    private readonly ctx: ProvisionerContext,
    /** Failures it could not fix this round (for logs). */
    private readonly onError: (error: unknown, resourceId: string) => void,
  ) {}

  /** One pass; a second caller while one runs waits for the running pass. */
  reconcile(): Promise<ReconcileReport> {
    if (this.running === null) {
      this.running = this.reconcileOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  /** Reconciles now and then every `intervalMs` until stop(). */
  start(intervalMs: number): Promise<ReconcileReport> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.reconcile().catch((error: unknown) => this.onError(error, '-'));
    }, intervalMs);
    this.timer.unref();
    return this.reconcile();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async reconcileOnce(): Promise<ReconcileReport> {
    const report = { finished: 0, undone: 0, deleted: 0, failed: 0, orphansRemoved: 0, keysDestroyed: 0 };
    const { store, placement } = this.ctx;
    // Only what lives on this server's backends (or was never recorded): a resource created on
    // another backend waits, untouched, for a server configured for it.
    const candidates = await store.system('reconciler', (tx) =>
      unfinishedResources(tx, placement.backends(), 500),
    );
    for (const id of candidates) {
      const row = await this.claim(id);
      if (row === undefined) continue;
      try {
        report[await this.finish(row)]++;
      } catch (error) {
        report.failed++;
        this.onError(error, row.id);
        const message = error instanceof Error ? error.message : String(error);
        const giveUp = row.attempts + 1 >= maxAttempts && row.status !== 'deprovisioning';
        await store.withDomain(row.domain_id, (tx) => recordAttemptFailure(tx, row.id, message, giveUp));
      }
    }
    report.orphansRemoved = await this.removeOrphans();
    report.keysDestroyed = await this.destroyDeletedDomainKeys();
    return report;
  }

  /** Finishes or undoes one claimed resource; answers what it did. */
  private async finish(row: ResourceRow): Promise<'finished' | 'undone' | 'deleted'> {
    const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
    // A create its backend refused made nothing there: nothing to remove, and no backend to ask.
    if (row.status === 'deprovisioning' && row.refused) {
      await finishDeletion(this.ctx, row.domain_id, row.id, actor);
      return 'deleted';
    }
    const provider = this.ctx.placement.providerOf(row, 'finish');
    if (row.status === 'deprovisioning') {
      await deleteUnderLease(this.ctx, provider, ref);
      await finishDeletion(this.ctx, row.domain_id, row.id, actor);
      return 'deleted';
    }
    const status = await this.ctx.store.withDomain(row.domain_id, async (tx) => {
      const found = await domainStatus(tx, row.domain_id);
      if (found === undefined) throw new Error(`domain ${row.domain_id} not found`);
      return found;
    });
    if (status === 'active') {
      await allocate(this.ctx, provider, row, actor);
      return 'finished';
    }
    await provider.delete(ref);
    await settle(this.ctx, row.domain_id, row.id, row.status, actor, 'resource.failed', (tx) =>
      markAbandoned(tx, row.id, `domain is ${status}`),
    );
    return 'undone';
  }

  /** Takes the lease on a resource if nobody holds it; counts the attempt. */
  private claim(resourceId: string): Promise<ResourceRow | undefined> {
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + this.ctx.leaseMs);
    return this.ctx.store.system('reconciler', (tx) => claimResource(tx, resourceId, now, leaseUntil));
  }

  /** Backend objects named for a resource of ours that is deleted or failed: remove them. */
  private async removeOrphans(): Promise<number> {
    let removed = 0;
    for (const [kind, provider] of this.ctx.placement.providers) {
      let objects: OwnedObject[];
      try {
        objects = await provider.listOwned();
      } catch (error) {
        // A backend that does not answer holds up neither the others nor the rest of the pass.
        this.onError(error, '-');
        continue;
      }
      for (const owned of objects) {
        const row = await this.ctx.store.system('reconciler', (tx) =>
          resourceOwner(tx, owned.ref.resourceId, kind),
        );
        // Only names this store handed out are ours to remove; anything else is left alone.
        if (row === undefined || row.domain_id !== owned.ref.domainId) continue;
        if (row.status !== 'deleted' && row.status !== 'failed') continue;
        await provider.delete(owned.ref);
        await this.ctx.store.withDomain(owned.ref.domainId, (tx) =>
          appendAudit(
            tx,
            succeeded(actor, owned.ref.domainId, 'resource.orphan_removed', owned.ref.resourceId, {
              kind,
              name: owned.name,
            }),
          ),
        );
        removed++;
      }
    }
    return removed;
  }

  private async destroyDeletedDomainKeys(): Promise<number> {
    const domains = await this.ctx.store.system('reconciler', (tx) => deletedDomainsToShred(tx));
    let destroyed = 0;
    for (const id of domains) {
      const done = await this.ctx.store.withDomain(id, async (tx) => {
        if (!(await this.ctx.keyring.destroy(tx, id))) return false;
        await appendAudit(tx, succeeded(actor, id, 'domain.key_destroyed', id));
        return true;
      });
      if (done) destroyed++;
    }
    return destroyed;
  }
}
