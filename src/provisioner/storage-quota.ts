// The storage quota under concurrency. An object write first reserves the bytes it may add, in one
// transaction that locks the domain's row and counts what is stored plus what every other write in flight
// has reserved; only then is the body read. Afterwards the resource's usage is measured from the disk
// with its row locked, and the reservation given up in the same transaction. A writer renews its lease;
// a reservation whose process died is measured and released by `releaseAbandoned` (at start and with the
// reconciler), so an object renamed into place just before a crash is counted, not lost.
import { randomUUID } from 'node:crypto';
import { BulkheadError } from '../errors.js';
import type { ResourceRef } from '../providers/provider.js';
import { lockDomain } from '../store/repositories/domains.js';
import {
  abandonedStorageReservations,
  deleteStorageReservation,
  insertStorageReservation,
  lockResourceStatus,
  recordUsedBytes,
  renewStorageReservation,
  storageRoom,
} from '../store/repositories/pools.js';
import type { Store } from '../store/store.js';
import { effectiveQuotas, type QuotaDefaults } from '../domain/quotas.js';

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
      const room = await storageRoom(tx, domainId);
      const quota = effectiveQuotas(this.o.quotas, room.quotas).storageBytes;
      const left = Math.max(0, quota - room.committed);
      const bytes = 'exactly' in claim ? claim.exactly : Math.min(claim.upTo, left);
      if (bytes > left) throw quotaExceeded();
      const id = randomUUID();
      const now = new Date();
      await insertStorageReservation(tx, {
        id,
        domainId,
        resourceId: ref.resourceId,
        bytes,
        at: now,
        leaseUntil: new Date(now.getTime() + this.o.leaseMs),
      });
      return { id, ref, bytes, quotaLimited: 'upTo' in claim && bytes < claim.upTo };
    });
  }

  /** Keeps a reservation alive while its write runs; every third of the lease. Returns the stopper. */
  keepAlive(reservation: StorageReservation): () => void {
    const timer = setInterval(
      () => {
        this.o.store
          .withDomain(reservation.ref.domainId, (tx) =>
            renewStorageReservation(tx, reservation.id, new Date(Date.now() + this.o.leaseMs)),
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
      const status = await lockResourceStatus(tx, ref.domainId, ref.resourceId);
      if (status !== undefined && status !== 'deleted') {
        await recordUsedBytes(tx, ref.domainId, ref.resourceId, await this.o.measure(ref));
      }
      if (reservationId !== null) await deleteStorageReservation(tx, reservationId);
    });
  }

  /**
   * Releases reservations whose writer is gone: those whose lease ran out, or every one when `all` (an
   * embedded store, which only this process opens, at start). Each resource is measured first, so bytes
   * a dead writer did store are counted. Returns how many were released.
   */
  async releaseAbandoned(all = false): Promise<number> {
    const now = new Date();
    const abandoned = await this.o.store.system('reconciler', (tx) =>
      abandonedStorageReservations(tx, all ? null : now, 1000),
    );
    for (const r of abandoned) {
      await this.settle({ domainId: r.domain_id, resourceId: r.resource_id }, r.id);
    }
    return abandoned.length;
  }
}
