// Instances and volumes: a domain's compute and block-storage records. Everything runs in the domain's
// own transaction, so another domain's instance is not merely refused but invisible; and the database
// refuses an attachment across domains by itself (the volume's instance is keyed with the volume's
// domain). A volume is zeroed before its space is released; a crash between the two steps is finished by
// `reconcile`.
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { VolumeDisks } from '../providers/storage/volume-disks.js';
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
}

async function activeDomain(tx: Tx, domainId: string): Promise<void> {
  const domain = await lockDomain(tx, domainId);
  if (domain.status === 'deleted') throw notFound();
  if (domain.status !== 'active')
    throw new BulkheadError('domain_deleted', 'The domain is not active: nothing can be created in it.');
}

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

/** A live volume by id, in a transaction or in the queries of a read. */
const volumeById = (db: Tx | DomainQueries, domainId: string, volumeId: string) =>
  db
    .selectFrom('volumes')
    .selectAll()
    .where('domain_id', '=', domainId)
    .where('id', '=', volumeId)
    .where('status', '<>', 'deleted');

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
  constructor(private readonly o: ComputeOptions) {}

  async createInstance(actor: Actor, domainId: string, input: { name: string }): Promise<InstanceView> {
    try {
      return await this.o.store.withDomain(domainId, async (tx) => {
        await activeDomain(tx, domainId);
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
    // The file is created first: a crash before the row commits leaves a file no row names, which
    // `reconcile` zeroes and removes; a row never names a file that does not exist.
    await this.o.disks.create({ domainId, volumeId: id }, input.sizeBytes);
    try {
      return await this.o.store.withDomain(domainId, async (tx) => {
        await activeDomain(tx, domainId);
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
      await this.o.disks.zeroAndRelease({ domainId, volumeId: id }).catch(() => undefined);
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
        .where('status', '<>', 'deleted')
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

  /** Deletes a detached volume: marked first, then zeroed, then released and marked deleted. */
  async deleteVolume(actor: Actor, domainId: string, volumeId: string): Promise<VolumeView> {
    const marked = await this.o.store.withDomain(domainId, async (tx) => {
      const volume = await findVolume(tx, domainId, volumeId, 'change');
      if (volume.status === 'attached')
        throw new BulkheadError('volume_attached', 'The volume is attached to an instance; detach it first.');
      if (volume.status === 'deleting') return volume;
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'deleting', updated_at: new Date() })
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
    return volumeView(await this.release(actor, marked));
  }

  private async release(actor: Actor, volume: VolumeRow): Promise<VolumeRow> {
    await this.o.disks.zeroAndRelease({ domainId: volume.domain_id, volumeId: volume.id });
    return this.o.store.withDomain(volume.domain_id, async (tx) => {
      const row = await tx
        .updateTable('volumes')
        .set({ status: 'deleted', deleted_at: new Date(), updated_at: new Date() })
        .where('domain_id', '=', volume.domain_id)
        .where('id', '=', volume.id)
        .where('status', '=', 'deleting')
        .returningAll()
        .executeTakeFirst();
      if (row === undefined) return volume;
      await appendAudit(tx, {
        ...actor,
        domainId: volume.domain_id,
        action: 'volume.deleted',
        target: volume.id,
        outcome: 'success',
        detail: { zeroedBytes: Number(volume.size_bytes) },
      });
      return row;
    });
  }

  /**
   * Finishes every volume deletion a crash interrupted (zero, release, mark deleted), and zeroes and
   * removes volume files that no live volume names (a crash between creating the file and its row).
   */
  async reconcile(): Promise<{ released: number; orphansRemoved: number }> {
    const actor: Actor = { actor: 'system:reconciler', requestId: null };
    const pending = await this.o.store.system('reconciler', (tx) =>
      tx.selectFrom('volumes').selectAll().where('status', '=', 'deleting').limit(500).execute(),
    );
    for (const volume of pending) await this.release(actor, volume);
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
      await this.o.disks.zeroAndRelease(ref);
      orphansRemoved++;
    }
    return { released: pending.length, orphansRemoved };
  }
}
