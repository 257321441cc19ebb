// Instances and volumes: a domain's compute and block-storage records. Everything runs in the domain's
// own transaction, so another domain's instance is not merely refused but invisible; and the database
// refuses an attachment across domains by itself (the volume's instance is keyed with the volume's
// domain). The pool's limits on instances, volumes and volume bytes are checked with the domain's row
// locked, in the transaction that inserts, so parallel creates cannot overrun them. A deleted volume is
// gone for the tenant at once and zeroed by a background worker at a bounded rate before its space is
// released; a volume still being zeroed keeps its place in the quota, and a crash resumes the zeroing.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { effectiveQuotas, type QuotaDefaults, type Quotas } from '../domain/quotas.js';
import { domainIdStatement, lockDomain } from '../store/repositories/domains.js';
import {
  countLiveInstances,
  insertInstance,
  liveInstanceStatement,
  liveInstancesStatement,
  lockInstanceRow,
  lockLiveInstance,
  markInstanceDeleted,
} from '../store/repositories/instances.js';
import { poolQuotas } from '../store/repositories/pools.js';
import {
  attachVolume,
  claimVolume,
  deletingVolumesStatement,
  detachInstanceVolumes,
  detachVolume,
  insertVolume,
  liveVolumeStatement,
  liveVolumesStatement,
  lockLiveVolume,
  lockVolumeRow,
  markVolumeDeleted,
  markVolumeDeleting,
  releaseVolumeLease,
  renewVolumeLease,
  volumesHeld,
  volumesToZero,
  volumeStatus,
} from '../store/repositories/volumes.js';
import type { InstanceRow, VolumeRow } from '../store/schema.js';
import type { DomainTx, Store } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import { rowView } from '../store/views.js';

export interface InstanceView {
  readonly id: string;
  readonly domainId: string;
  readonly name: string;
  readonly status: InstanceRow['status'];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly deletedAt: string | null;
}

export interface VolumeView {
  readonly id: string;
  readonly domainId: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly status: VolumeRow['status'];
  readonly instanceId: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly attachedAt: string | null;
  readonly deletedAt: string | null;
}

function instanceView(row: InstanceRow): InstanceView {
  return rowView(row, ['id', 'domain_id', 'name', 'status', 'created_at', 'updated_at', 'deleted_at']);
}

/** The API's view of a volume row. */
export function volumeView(row: VolumeRow): VolumeView {
  const columns = [
    'id',
    'domain_id',
    'name',
    'size_bytes',
    'status',
    'instance_id',
    'created_at',
    'updated_at',
    'attached_at',
    'deleted_at',
  ] as const;
  return { ...rowView(row, columns), sizeBytes: Number(row.size_bytes) };
}

/** One volume on the block storage: the domain that owns it and its id. */
export interface VolumeRef {
  readonly domainId: string;
  readonly volumeId: string;
}

/**
 * The block storage behind volumes, as much of it as compute uses. The entry point hands in the one it
 * built (src/providers/storage/volume-disks.ts); compute never reaches into a provider itself.
 */
export interface VolumeDisks {
  /** Creates the volume's file at its full size. Idempotent. */
  create(ref: VolumeRef, sizeBytes: number): Promise<void>;
  /** Overwrites the volume with zeros, paced when asked, then removes it. Idempotent. */
  zeroAndRelease(
    ref: VolumeRef,
    pace?: { readonly bytesPerSecond: number; readonly between: (zeroed: number) => Promise<void> },
  ): Promise<void>;
  /** Removes a volume nobody ever wrote. */
  discard(ref: VolumeRef): Promise<void>;
  /** Removes a deleted domain's place on the disks, zeroing any volume still there. Idempotent. */
  releaseDomain(domainId: string): Promise<void>;
  /** Every volume on the disks, with its last change. */
  list(): Promise<(VolumeRef & { modifiedAt: Date })[]>;
}

export interface ComputeOptions {
  readonly store: Store;
  readonly disks: VolumeDisks;
  /** The largest volume a domain may create. */
  readonly maxVolumeBytes: number;
  /** The pool's defaults; a domain's pool may override them. */
  readonly quotas: QuotaDefaults;
  /** Bytes per second the background worker overwrites of deleted volumes. */
  readonly zeroBytesPerSecond: number;
  /** How long the worker holds a volume it zeroes without renewing its claim. */
  readonly leaseMs: number;
}

/** Locks the domain's row and returns its pool's quotas; refuses a domain that is not active. */
async function activeDomain(tx: DomainTx, domainId: string, defaults: QuotaDefaults): Promise<Quotas> {
  const domain = await lockDomain(tx, domainId);
  if (domain.status === 'deleted') throw notFound();
  if (domain.status !== 'active')
    throw new BulkheadError('domain_deleted', 'The domain is not active: nothing can be created in it.');
  return effectiveQuotas(defaults, await poolQuotas(tx, domainId));
}

/** Thrown by the zeroing worker's pacing to stop between two chunks. */
class Stopped extends Error {}

/**
 * A live instance, locked until the transaction ends for a caller about to change it. Reads take no
 * lock (they go through `Store.read`), so that they neither queue behind one another nor turn a
 * transaction into a write (a row lock is written, and its commit waits for the log to be flushed).
 */
async function lockInstance(tx: DomainTx, domainId: string, instanceId: string): Promise<InstanceRow> {
  const row = await lockLiveInstance(tx, domainId, instanceId);
  if (row === undefined) throw notFound();
  return row;
}

/** A live volume, locked as `lockInstance` locks an instance; one being zeroed is gone already. */
async function lockVolume(tx: DomainTx, domainId: string, volumeId: string): Promise<VolumeRow> {
  const row = await lockLiveVolume(tx, domainId, volumeId);
  if (row === undefined) throw notFound();
  return row;
}

export class ComputeService {
  /** The zeroing worker's current pass, if one runs; `zeroing()` waits for it. */
  private worker: Promise<void> | null = null;
  /** Set when a deletion arrives during a pass, so the pass looks again before it ends. */
  private again = false;
  private stopped = false;

  constructor(private readonly o: ComputeOptions) {}

  async createInstance(actor: Actor, domainId: string, input: { name: string }): Promise<InstanceView> {
    try {
      return await this.o.store.withDomain(domainId, async (tx) => {
        const quotas = await activeDomain(tx, domainId, this.o.quotas);
        if ((await countLiveInstances(tx, domainId)) >= quotas.instances)
          throw new BulkheadError(
            'quota_exceeded',
            `The domain may have at most ${quotas.instances} instances.`,
          );
        const row = await insertInstance(tx, {
          id: newId('instance'),
          domainId,
          name: input.name,
          at: new Date(),
        });
        await appendAudit(tx, succeeded(actor, domainId, 'instance.create', row.id, { name: row.name }));
        return instanceView(row);
      });
    } catch (error) {
      if (isUniqueViolation(error, 'instances_live_name'))
        throw new BulkheadError('name_taken', `An instance named "${input.name}" already exists.`);
      throw error;
    }
  }

  /**
   * Reads travel in one message (Store.read). A list reads the domain too: an unknown (or foreign, which is
   * the same here) domain is a 404, not an empty list.
   */
  async listInstances(domainId: string): Promise<InstanceView[]> {
    const [domain, rows] = await this.o.store.read(domainId, (db) => [
      domainIdStatement(db, domainId),
      liveInstancesStatement(db, domainId),
    ]);
    if (domain.length === 0) throw notFound();
    return rows.map(instanceView);
  }

  async getInstance(domainId: string, instanceId: string): Promise<InstanceView> {
    const [[row]] = await this.o.store.read(domainId, (db) => [
      liveInstanceStatement(db, domainId, instanceId),
    ]);
    if (row === undefined) throw notFound();
    return instanceView(row);
  }

  /**
   * Deletes an instance; its volumes are detached (and kept) in the same transaction. Deleting it again
   * answers the deleted instance, changing nothing (docs/api.md, "Deleting twice").
   */
  async deleteInstance(actor: Actor, domainId: string, instanceId: string): Promise<InstanceView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const found = await lockInstanceRow(tx, domainId, instanceId);
      if (found === undefined) throw notFound();
      if (found.status === 'deleted') return instanceView(found);
      const now = new Date();
      const detached = await detachInstanceVolumes(tx, domainId, instanceId, now);
      const row = await markInstanceDeleted(tx, domainId, instanceId, now);
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'instance.delete', instanceId, { detachedVolumes: detached }),
      );
      return instanceView(row);
    });
  }

  async createVolume(
    actor: Actor,
    domainId: string,
    input: { name: string; sizeBytes: number },
  ): Promise<VolumeView> {
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes < 1)
      throw new BulkheadError('invalid_request', 'sizeBytes must be a positive whole number.');
    if (input.sizeBytes > this.o.maxVolumeBytes)
      throw new BulkheadError(
        'volume_too_large',
        `A volume may have at most ${this.o.maxVolumeBytes} bytes.`,
      );
    const id = newId('volume');
    const ref: VolumeRef = { domainId, volumeId: id };
    let created = false;
    try {
      return await this.o.store.withDomain(domainId, async (tx) => {
        const quotas = await activeDomain(tx, domainId, this.o.quotas);
        // Volumes still being zeroed hold their disk space, so they count until they are gone.
        const held = await volumesHeld(tx, domainId);
        if (held.count >= quotas.volumes)
          throw new BulkheadError('quota_exceeded', `The domain may have at most ${quotas.volumes} volumes.`);
        if (held.bytes + input.sizeBytes > quotas.volumeBytes)
          throw new BulkheadError(
            'quota_exceeded',
            `The domain's volumes may hold at most ${quotas.volumeBytes} bytes in all.`,
          );
        // The file is created before the row commits: a crash in between leaves a file no row names,
        // which `reconcile` zeroes and removes; a row never names a file that does not exist.
        await this.o.disks.create(ref, input.sizeBytes);
        created = true;
        const row = await insertVolume(tx, {
          id,
          domainId,
          name: input.name,
          sizeBytes: input.sizeBytes,
          at: new Date(),
        });
        await appendAudit(
          tx,
          succeeded(actor, domainId, 'volume.create', id, { name: input.name, sizeBytes: input.sizeBytes }),
        );
        return volumeView(row);
      });
    } catch (error) {
      // Nobody could have written to a volume whose row never committed: there is nothing to zero.
      if (created) await this.o.disks.discard(ref).catch(() => undefined);
      if (isUniqueViolation(error, 'volumes_live_name'))
        throw new BulkheadError('name_taken', `A volume named "${input.name}" already exists.`);
      throw error;
    }
  }

  async listVolumes(domainId: string): Promise<VolumeView[]> {
    const [domain, rows] = await this.o.store.read(domainId, (db) => [
      domainIdStatement(db, domainId),
      liveVolumesStatement(db, domainId),
    ]);
    if (domain.length === 0) throw notFound();
    return rows.map(volumeView);
  }

  async getVolume(domainId: string, volumeId: string): Promise<VolumeView> {
    const [[row]] = await this.o.store.read(domainId, (db) => [liveVolumeStatement(db, domainId, volumeId)]);
    if (row === undefined) throw notFound();
    return volumeView(row);
  }

  /**
   * Attaches a volume to an instance of the same domain. An instance of another domain is not found —
   * the same answer as an id that names nothing.
   */
  async attach(actor: Actor, domainId: string, volumeId: string, instanceId: string): Promise<VolumeView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const volume = await lockVolume(tx, domainId, volumeId);
      const instance = await lockInstance(tx, domainId, instanceId);
      if (volume.status === 'attached' && volume.instance_id === instance.id) return volumeView(volume);
      if (volume.status !== 'available')
        throw new BulkheadError('volume_attached', 'The volume is attached to an instance; detach it first.');
      const row = await attachVolume(tx, domainId, volumeId, instance.id, new Date());
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'volume.attach', volumeId, { instanceId: instance.id }),
      );
      return volumeView(row);
    });
  }

  async detach(actor: Actor, domainId: string, volumeId: string): Promise<VolumeView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const volume = await lockVolume(tx, domainId, volumeId);
      if (volume.status !== 'attached') return volumeView(volume);
      const row = await detachVolume(tx, domainId, volumeId, new Date());
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'volume.detach', volumeId, { instanceId: volume.instance_id }),
      );
      return volumeView(row);
    });
  }

  /**
   * Deletes a detached volume: marked `deleting` (from then on it is not found) and handed to the zeroing
   * worker, which overwrites it at a bounded rate, releases it and marks it deleted. The request does not
   * wait for the zeros. Deleting it again answers it as it is now (`deleting`, or `deleted` once zeroed),
   * changing nothing (docs/api.md, "Deleting twice").
   */
  async deleteVolume(actor: Actor, domainId: string, volumeId: string): Promise<VolumeView> {
    const marked = await this.o.store.withDomain(domainId, async (tx) => {
      const volume = await lockVolumeRow(tx, domainId, volumeId);
      if (volume === undefined) throw notFound();
      if (volume.status === 'deleting' || volume.status === 'deleted') return volume;
      if (volume.status === 'attached')
        throw new BulkheadError('volume_attached', 'The volume is attached to an instance; detach it first.');
      const row = await markVolumeDeleting(tx, domainId, volumeId, new Date());
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'volume.delete', volumeId, { sizeBytes: Number(volume.size_bytes) }),
      );
      return row;
    });
    this.kick();
    return volumeView(marked);
  }

  /** Starts the zeroing worker if it is idle, or makes the running pass look again before it ends. */
  kick(): void {
    if (this.stopped) return;
    if (this.worker !== null) {
      this.again = true;
      return;
    }
    this.worker = this.zeroAll()
      .catch(() => undefined) // a failed volume stays `deleting`; the next pass tries again
      .finally(() => {
        this.worker = null;
      });
  }

  /** Resolves when the zeroing worker has nothing left that it could take (for tests and shutdown). */
  async zeroing(): Promise<void> {
    while (this.worker !== null) await this.worker;
  }

  /** Stops the zeroing worker between two chunks; what it had not finished resumes at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.zeroing();
  }

  private async zeroAll(): Promise<void> {
    do {
      this.again = false;
      const pending = await this.o.store.system('reconciler', (tx) => volumesToZero(tx, new Date(), 500));
      for (const id of pending) {
        if (this.stopped) return;
        const volume = await this.claim(id);
        if (volume !== undefined) await this.release(volume);
      }
      if (pending.length === 500) this.again = true;
    } while (this.again && !this.stopped);
  }

  /** Takes a deleting volume for this worker unless another holds it; undefined when it is not free. */
  private claim(volumeId: string): Promise<VolumeRow | undefined> {
    const now = new Date();
    return this.o.store.system('reconciler', (tx) =>
      claimVolume(tx, volumeId, now, new Date(now.getTime() + this.o.leaseMs)),
    );
  }

  /** Zeroes a claimed volume at the configured rate, renewing the claim, then marks it deleted. */
  private async release(volume: VolumeRow): Promise<void> {
    const actor: Actor = { actor: 'system:reconciler', requestId: null };
    let renewed = Date.now();
    try {
      await this.o.disks.zeroAndRelease(
        { domainId: volume.domain_id, volumeId: volume.id },
        {
          bytesPerSecond: this.o.zeroBytesPerSecond,
          between: async () => {
            if (this.stopped) throw new Stopped();
            if (Date.now() - renewed < this.o.leaseMs / 3) return;
            renewed = Date.now();
            await this.o.store.system('reconciler', (tx) =>
              renewVolumeLease(tx, volume.id, new Date(renewed + this.o.leaseMs)),
            );
          },
        },
      );
    } catch (error) {
      // Stopped or failed: let the claim go, so the next pass (here or in another process) starts over.
      await this.o.store
        .system('reconciler', (tx) => releaseVolumeLease(tx, volume.id))
        .catch(() => undefined);
      if (error instanceof Stopped) return;
      throw error;
    }
    await this.o.store.withDomain(volume.domain_id, async (tx) => {
      const row = await markVolumeDeleted(tx, volume.domain_id, volume.id, new Date());
      if (row === undefined) return;
      await appendAudit(
        tx,
        succeeded(actor, volume.domain_id, 'volume.deleted', volume.id, {
          zeroedBytes: Number(volume.size_bytes),
        }),
      );
    });
  }

  /**
   * Hands every deletion a crash interrupted to the zeroing worker (it zeroes, releases and marks them
   * deleted in the background), and zeroes and removes volume files that no live volume names (a crash
   * between creating the file and its row). Returns how many volumes wait for zeroing.
   */
  async reconcile(): Promise<{ deleting: number; orphansRemoved: number }> {
    const [pending] = await this.o.store.systemRead('reconciler', (db) => [deletingVolumesStatement(db)]);
    this.kick();
    let orphansRemoved = 0;
    for (const ref of await this.o.disks.list()) {
      const status = await this.o.store.system('reconciler', (tx) =>
        volumeStatus(tx, ref.domainId, ref.volumeId),
      );
      if (status !== undefined && status !== 'deleted') continue;
      // A file younger than a minute may belong to a create still in flight.
      if (Date.now() - ref.modifiedAt.getTime() < 60_000) continue;
      try {
        await this.o.disks.zeroAndRelease(ref, {
          bytesPerSecond: this.o.zeroBytesPerSecond,
          between: () => (this.stopped ? Promise.reject(new Stopped()) : Promise.resolve()),
        });
      } catch (error) {
        if (error instanceof Stopped) break;
        throw error;
      }
      orphansRemoved++;
    }
    return { deleting: Number(pending[0]?.n ?? 0), orphansRemoved };
  }
}
