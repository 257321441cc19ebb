// The end of a domain's deletion. Deleting a domain commits, in one transaction, everything that must
// stop at once (its keys revoked, its tokens refused, its instances ended) and marks what takes time:
// its resources for removal from their backends and its volumes for zeroing. The reconcilers do that
// work on every server, resuming after a crash, and destroy the domain's data key. This pass then takes
// each deleted domain that has nothing left on any backend and whose final invoice is written, removes
// its place on the volume disks and deletes its rows, all but its audit trail and its invoices
// (store/repositories/domain-purge.ts says which). Every step is idempotent: a crash between two
// repeats it at the next pass.
import { appendAudit } from '../audit/log.js';
import { domainsToPurge, purgeDomainRows } from '../store/repositories/domain-purge.js';
import type { Store } from '../store/store.js';
import type { VolumeDisks } from './compute.js';

export interface DomainPurgeOptions {
  readonly store: Store;
  readonly disks: VolumeDisks;
}

export class DomainPurge {
  private running: Promise<number> | null = null;

  constructor(private readonly o: DomainPurgeOptions) {}

  /** One pass; answers how many domains it purged. A second caller while one runs waits for it. */
  purge(): Promise<number> {
    if (this.running === null) {
      this.running = this.purgeOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async purgeOnce(): Promise<number> {
    const ids = await this.o.store.system('reconciler', (tx) => domainsToPurge(tx, 100));
    let purged = 0;
    for (const domainId of ids) {
      // The disks first: a crash before the rows go leaves the domain to purge again.
      await this.o.disks.releaseDomain(domainId);
      const done = await this.o.store.system('reconciler', async (tx) => {
        const deleted = await purgeDomainRows(tx, domainId, new Date());
        if (deleted === undefined) return false; // another server purged it first
        await appendAudit(tx, {
          actor: 'system:reconciler',
          requestId: null,
          domainId,
          action: 'domain.purged',
          target: domainId,
          outcome: 'success',
          detail: { deleted },
        });
        return true;
      });
      if (done) purged++;
    }
    return purged;
  }
}
