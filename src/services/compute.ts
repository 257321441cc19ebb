// Instances and volumes: a domain's compute and block-storage records. Everything runs in the domain's
// own transaction, so another domain's instance is not merely refused but invisible; and the database
// refuses an attachment across domains by itself (the volume's instance is keyed with the volume's
// domain). The pool's limits on instances, volumes and volume bytes are checked with the domain's row
// locked, in the transaction that inserts, so parallel creates cannot overrun them. A deleted volume is
// gone for the tenant at once and zeroed by a background worker at a bounded rate before its space is
// released; a volume still being zeroed keeps its place in the quota, and a crash resumes the zeroing.
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { effectiveQuotas, type QuotaDefaults, type Quotas } from '../provisioner/quotas.js';
import type { VolumeDisks, VolumeRef } from '../providers/storage/volume-disks.js';
import type { InstanceRow, VolumeRow } from '../store/schema.js';
import type { DomainQueries, Store, Tx } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import { lockDomain } from './domains.js';

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
  return {
    id: row.id,
    domainId: row.domain_id,
    name: row.name,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

/** The API's view of a volume row. */
export function volumeView(row: VolumeRow): VolumeView {
  return {
    id: row.id,
    domainId: row.domain_id,
    name: row.name,
    sizeBytes: Number(row.size_bytes),
    status: row.status,
    instanceId: row.instance_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    attachedAt: row.attached_at?.toISOString() ?? null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
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
async function activeDomain(tx: Tx, domainId: string, defaults: QuotaDefaults): Promise<Quotas> {
  const domain = await lockDomain(tx, domainId);
  if (domain.status === 'deleted') throw notFound();
  if (domain.status !== 'active')
    throw new BulkheadError('domain_deleted', 'The domain is not active: nothing can be created in it.');
  const pool = await tx
    .selectFrom('pools')
    .select('quotas')
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
  return effectiveQuotas(defaults, pool?.quotas ?? {});
}

/** Thrown by the zeroing worker's pacing to stop between two chunks. */
class Stopped extends Error {}

/**
 * How a row is found: `change` locks it until the transaction ends, for a caller about to change it;
 * `read` takes no lock, so that reads neither queue behind one another nor turn the transaction into a
 * write (a row lock is written, and its commit waits for the log to be flushed).
 */
type Find = 'read' | 'change';

/** A live instance by id, in a transaction or in the queries of a read. */
const instanceById = (db: Tx | DomainQueries, domainId: string, instanceId: string) =>
  db
    .selectFrom('instances')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', instanceId)
    .where('status', '<>', 'deleted');

/** A live volume by id, in a transaction or in the queries of a read; one being zeroed is gone already. */
const volumeById = (db: Tx | DomainQueries, domainId: string, volumeId: string) =>
  db
    .selectFrom('volumes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .where('status', 'not in', ['deleting', 'deleted']);

async function findInstance(tx: Tx, domainId: string, instanceId: string, mode: Find): Promise<InstanceRow> {
  const query = instanceById(tx, domainId, instanceId);
  const row = await (mode === 'change' ? query.forUpdate() : query).executeTakeFirst();
  if (row === undefined) throw notFound();
  return row;
}

async function findVolume(tx: Tx, domainId: string, volumeId: string, mode: Find): Promise<VolumeRow> {
  const query = volumeById(tx, domainId, volumeId);
  const row = await (mode === 'change' ? query.forUpdate() : query).executeTakeFirst();
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
        const live = await tx
          .selectFrom('instances')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('domain_id', '=', domainId)
          .where('status', '<>', 'deleted')
          .executeTakeFirstOrThrow();
        if (Number(live.n) >= quotas.instances)
          throw new BulkheadError(
            'quota_exceeded',
            `The domain may have at most ${quotas.instances} instances.`,
          );
        const now = new Date();
        const row = await tx
          .insertInto('instances')
          .values({
            id: newId('instance'),
            domain_id: domainId,
            name: input.name,
            status: 'running',
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'instance.create',
          target: row.id,
          outcome: 'success',
          detail: { name: row.name },
        });
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
      db.selectFrom('domains').select('id').where('id', '=', domainId),
      db
        .selectFrom('instances')
        .selectAll()
        .where('domain_id', '=', domainId)
        .where('status', '<>', 'deleted')
        .orderBy('id')
        .limit(1000),
    ]);
    if (domain.length === 0) throw notFound();
    return rows.map(instanceView);
  }

  async getInstance(domainId: string, instanceId: string): Promise<InstanceView> {
    const [[row]] = await this.o.store.read(domainId, (db) => [instanceById(db, domainId, instanceId)]);
    if (row === undefined) throw notFound();
    return instanceView(row);
  }

  /** Deletes an instance; its volumes are detached (and kept) in the same transaction. */
  async deleteInstance(actor: Actor, domainId: string, instanceId: string): Promise<InstanceView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      await findInstance(tx, domainId, instanceId, 'change');
      const now = new Date();
      const detached = await tx
        .updateTable('volumes')
        .set({ status: 'available', instance_id: null, attached_at: null, updated_at: now })
        .where('domain_id', '=', domainId)
        .where('instance_id', '=', instanceId)
        .returning('id')
        .execute();
      const row = await tx
        .updateTable('instances')
        .set({ status: 'deleted', deleted_at: now, updated_at: now })
        .where('domain_id', '=', domainId)
        .where('id', '=', instanceId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'instance.delete',
        target: instanceId,
        outcome: 'success',
        detail: { detachedVolumes: detached.map((v) => v.id) },
      });
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
        const held = await tx
          .selectFrom('volumes')
          .select((eb) => [
            eb.fn.countAll<string>().as('n'),
            eb.fn.coalesce(eb.fn.sum<string>('size_bytes'), eb.lit(0)).as('bytes'),
          ])
          .where('domain_id', '=', domainId)
          .where('status', '<>', 'deleted')
          .executeTakeFirstOrThrow();
        if (Number(held.n) >= quotas.volumes)
          throw new BulkheadError('quota_exceeded', `The domain may have at most ${quotas.volumes} volumes.`);
        if (Number(held.bytes) + input.sizeBytes > quotas.volumeBytes)
          throw new BulkheadError(
            'quota_exceeded',
            `The domain's volumes may hold at most ${quotas.volumeBytes} bytes in all.`,
          );
        // The file is created before the row commits: a crash in between leaves a file no row names,
        // which `reconcile` zeroes and removes; a row never names a file that does not exist.
        await this.o.disks.create(ref, input.sizeBytes);
        created = true;
        const now = new Date();
        const row = await tx
          .insertInto('volumes')
          .values({
            id,
            domain_id: domainId,
            name: input.name,
            size_bytes: input.sizeBytes,
            status: 'available',
            instance_id: null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'volume.create',
          target: id,
          outcome: 'success',
          detail: { name: input.name, sizeBytes: input.sizeBytes },
        });
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
      db.selectFrom('domains').select('id').where('id', '=', domainId),
      db
        .selectFrom('volumes')
        .selectAll()
        .where('domain_id', '=', domainId)
        .where('status', 'not in', ['deleting', 'deleted'])
        .orderBy('id')
        .limit(1000),
    ]);
    if (domain.length === 0) throw notFound();
    return rows.map(volumeView);
  }

  async getVolume(domainId: string, volumeId: string): Promise<VolumeView> {
    const [[row]] = await this.o.store.read(domainId, (db) => [volumeById(db, domainId, volumeId)]);
    if (row === undefined) throw notFound();
    return volumeView(row);
  }

  /**
   * Attaches a volume to an instance of the same domain. An instance of another domain is not found —
   * the same answer as an id that names nothing.
   */
  async attach(actor: Actor, domainId: string, volumeId: string, instanceId: string): Promise<VolumeView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const volume = await findVolume(tx, domainId, volumeId, 'change');
      const instance = await findInstance(tx, domainId, instanceId, 'change');
      if (volume.status === 'attached' && volume.instance_id === instance.id) return volumeView(volume);
      if (volume.status !== 'available')
        throw new BulkheadError('volume_attached', 'The volume is attached to an instance; detach it first.');
      const now = new Date();
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'attached', instance_id: instance.id, attached_at: now, updated_at: now })
        .where('domain_id', '=', domainId)
        .where('id', '=', volumeId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'volume.attach',
        target: volumeId,
        outcome: 'success',
        detail: { instanceId: instance.id },
      });
      return volumeView(row);
    });
  }

  async detach(actor: Actor, domainId: string, volumeId: string): Promise<VolumeView> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const volume = await findVolume(tx, domainId, volumeId, 'change');
      if (volume.status !== 'attached') return volumeView(volume);
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'available', instance_id: null, attached_at: null, updated_at: new Date() })
        .where('domain_id', '=', domainId)
        .where('id', '=', volumeId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'volume.detach',
        target: volumeId,
        outcome: 'success',
        detail: { instanceId: volume.instance_id },
      });
      return volumeView(row);
    });
  }

  /**
   * Deletes a detached volume: marked `deleting` (from then on it is not found) and handed to the zeroing
   * worker, which overwrites it at a bounded rate, releases it and marks it deleted. The request does not
   * wait for the zeros.
   */
  async deleteVolume(actor: Actor, domainId: string, volumeId: string): Promise<VolumeView> {
    const marked = await this.o.store.withDomain(domainId, async (tx) => {
      const volume = await findVolume(tx, domainId, volumeId, 'change');
      if (volume.status === 'attached')
        throw new BulkheadError('volume_attached', 'The volume is attached to an instance; detach it first.');
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'deleting', lease_until: null, updated_at: new Date() })
        .where('domain_id', '=', domainId)
        .where('id', '=', volumeId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'volume.delete',
        target: volumeId,
        outcome: 'success',
        detail: { sizeBytes: Number(volume.size_bytes) },
      });
      return row;
    });
    this.kick();
    return volumeView(marked);
  }

  /** Starts the zeroing worker if it is idle, or makes the running pass look again before it ends. */
  private kick(): void {
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
      const pending = await this.o.store.system('reconciler', (tx) =>
        tx
          .selectFrom('volumes')
          .select('id')
          .where('status', '=', 'deleting')
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', new Date())]))
          .orderBy('updated_at')
          .limit(500)
          .execute(),
      );
      for (const { id } of pending) {
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
      tx
        .updateTable('volumes')
        .set({ lease_until: new Date(now.getTime() + this.o.leaseMs) })
        .where('id', '=', volumeId)
        .where('status', '=', 'deleting')
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .returningAll()
        .executeTakeFirst(),
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
              tx
                .updateTable('volumes')
                .set({ lease_until: new Date(renewed + this.o.leaseMs) })
                .where('id', '=', volume.id)
                .where('status', '=', 'deleting')
                .execute(),
            );
          },
        },
      );
    } catch (error) {
      // Stopped or failed: let the claim go, so the next pass (here or in another process) starts over.
      await this.o.store
        .system('reconciler', (tx) =>
          tx.updateTable('volumes').set({ lease_until: null }).where('id', '=', volume.id).execute(),
        )
        .catch(() => undefined);
      if (error instanceof Stopped) return;
      throw error;
    }
    await this.o.store.withDomain(volume.domain_id, async (tx) => {
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'deleted', lease_until: null, deleted_at: new Date(), updated_at: new Date() })
        .where('domain_id', '=', volume.domain_id)
        .where('id', '=', volume.id)
        .where('status', '=', 'deleting')
        .returningAll()
        .executeTakeFirst();
      if (row === undefined) return;
      await appendAudit(tx, {
        ...actor,
        domainId: volume.domain_id,
        action: 'volume.deleted',
        target: volume.id,
        outcome: 'success',
        detail: { zeroedBytes: Number(volume.size_bytes) },
      });
    });
  }

  /**
   * Hands every deletion a crash interrupted to the zeroing worker (it zeroes, releases and marks them
   * deleted in the background), and zeroes and removes volume files that no live volume names (a crash
   * between creating the file and its row). Returns how many volumes wait for zeroing.
   */
  async reconcile(): Promise<{ deleting: number; orphansRemoved: number }> {
    const [pending] = await this.o.store.systemRead('reconciler', (db) => [
      db
        .selectFrom('volumes')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('status', '=', 'deleting'),
    ]);
    this.kick();
    let orphansRemoved = 0;
    for (const ref of await this.o.disks.list()) {
      const row = await this.o.store.system('reconciler', (tx) =>
        tx
          .selectFrom('volumes')
          .select('status')
          .where('id', '=', ref.volumeId)
          .where('domain_id', '=', ref.domainId)
          .executeTakeFirst(),
      );
      if (row !== undefined && row.status !== 'deleted') continue;
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
