// The storage quota under concurrency. An object write first reserves the bytes it may add, in one
// transaction that locks the domain's row and counts what is stored plus what every other write in flight
// has reserved; only then is the body read. Afterwards the resource's usage is measured from the disk
// with its row locked, and the reservation given up in the same transaction. A writer renews its lease;
// a reservation whose process died is measured and released by `releaseAbandoned` (at start and with the
// reconciler), so an object renamed into place just before a crash is counted, not lost.
import { randomUUID } from 'node:crypto';
import { BulkheadError } from '../errors.js';
import type { ResourceRef } from '../providers/provider.js';
import type { Store, Tx } from '../store/store.js';
import { lockDomain } from '../services/domains.js';
import { effectiveQuotas, type QuotaDefaults } from './quotas.js';

/** How many bytes a write asks for: exactly its declared length, or whatever is left up to a limit. */
export type StorageClaim = { readonly exactly: number } | { readonly upTo: number };

export interface StorageReservation {
  readonly id: string;
  readonly ref: ResourceRef;
  /** The most bytes the write may store. */
  readonly bytes: number;
  /** True when the quota, not the object size limit, set `bytes`. */
  readonly quotaLimited: boolean;
}

export interface StorageQuotaOptions {
  readonly store: Store;
  readonly quotas: QuotaDefaults;
  /** How long a reservation lives without being renewed. */
  readonly leaseMs: number;
  /** Bytes a storage resource holds now, read from its backend (the sum of its objects). */
  readonly measure: (ref: ResourceRef) => Promise<number>;
}

const quotaExceeded = () =>
  new BulkheadError('quota_exceeded', "The object would exceed the domain's storage quota.");

export class StorageQuota {
  constructor(private readonly o: StorageQuotaOptions) {}

  /**
   * Reserves room for one write, or `quota_exceeded` when there is none. The domain's row stays locked
   * from the count to the insert, so two writes never both see the same room.
   */
  async reserve(ref: ResourceRef, claim: StorageClaim): Promise<StorageReservation> {
    const { domainId } = ref;
    return this.o.store.withDomain(domainId, async (tx) => {
      await lockDomain(tx, domainId);
      const { quota, committed } = await this.room(tx, domainId);
      const left = Math.max(0, quota - committed);
      const bytes = 'exactly' in claim ? claim.exactly : Math.min(claim.upTo, left);
      if (bytes > left) throw quotaExceeded();
      const id = randomUUID();
      const now = new Date();
      await tx
        .insertInto('storage_reservations')
        .values({
          id,
          domain_id: domainId,
          resource_id: ref.resourceId,
          bytes,
          created_at: now,
          lease_until: new Date(now.getTime() + this.o.leaseMs),
        })
        .execute();
      return { id, ref, bytes, quotaLimited: 'upTo' in claim && bytes < claim.upTo };
    });
  }

  /** The domain's storage quota and the bytes stored or reserved against it (the domain row is locked). */
  private async room(tx: Tx, domainId: string): Promise<{ quota: number; committed: number }> {
    const row = await tx
      .selectFrom('domains')
      .select((eb) => [
        eb.selectFrom('pools').select('quotas').where('domain_id', '=', domainId).as('quotas'),
        eb
          .selectFrom('resources')
          .select((c) => c.fn.coalesce(c.fn.sum<string>('used_bytes'), c.lit(0)).as('n'))
          .where('domain_id', '=', domainId)
          .where('status', '<>', 'deleted')
          .as('used'),
        eb
          .selectFrom('storage_reservations')
          .select((c) => c.fn.coalesce(c.fn.sum<string>('bytes'), c.lit(0)).as('n'))
          .where('domain_id', '=', domainId)
          .as('reserved'),
      ])
      .where('id', '=', domainId)
      .executeTakeFirstOrThrow();
    const quota = effectiveQuotas(this.o.quotas, row.quotas ?? {}).storageBytes;
    return { quota, committed: Number(row.used ?? 0) + Number(row.reserved ?? 0) };
  }

  /** Keeps a reservation alive while its write runs; every third of the lease. Returns the stopper. */
  keepAlive(reservation: StorageReservation): () => void {
    const timer = setInterval(
      () => {
        this.o.store
          .withDomain(reservation.ref.domainId, (tx) =>
            tx
              .updateTable('storage_reservations')
              .set({ lease_until: new Date(Date.now() + this.o.leaseMs) })
              .where('id', '=', reservation.id)
              .execute(),
          )
          .catch(() => undefined); // the next renewal tries again; the reconciler measures at worst
      },
      Math.max(100, Math.floor(this.o.leaseMs / 3)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Measures the resource's usage from its backend and records it, giving up `reservationId` (if any) in
   * the same transaction. The resource's row is locked while the backend is read, so a slower measure
   * can never overwrite a newer one.
   */
  async settle(ref: ResourceRef, reservationId: string | null): Promise<void> {
    await this.o.store.withDomain(ref.domainId, async (tx) => {
      const row = await tx
        .selectFrom('resources')
        .select('status')
        .where('id', '=', ref.resourceId)
        .where('domain_id', '=', ref.domainId)
        .forUpdate()
        .executeTakeFirst();
      if (row !== undefined && row.status !== 'deleted') {
        const usedBytes = await this.o.measure(ref);
        await tx
          .updateTable('resources')
          .set({ used_bytes: usedBytes, updated_at: new Date() })
          .where('id', '=', ref.resourceId)
          .where('domain_id', '=', ref.domainId)
          .execute();
      }
      if (reservationId !== null)
        await tx.deleteFrom('storage_reservations').where('id', '=', reservationId).execute();
    });
  }

  /**
   * Releases reservations whose writer is gone: those whose lease ran out, or every one when `all` (an
   * embedded store, which only this process opens, at start). Each resource is measured first, so bytes
   * a dead writer did store are counted. Returns how many were released.
   */
  async releaseAbandoned(all = false): Promise<number> {
    const now = new Date();
    const abandoned = await this.o.store.system('reconciler', (tx) => {
      let q = tx.selectFrom('storage_reservations').select(['id', 'domain_id', 'resource_id']);
      if (!all) q = q.where('lease_until', '<', now);
      return q.orderBy('id').limit(1000).execute();
    });
    for (const r of abandoned) {
      await this.settle({ domainId: r.domain_id, resourceId: r.resource_id }, r.id);
    }
    return abandoned.length;
  }
}
