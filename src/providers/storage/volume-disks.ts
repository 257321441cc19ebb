// The block storage behind volumes: one file per volume under a root directory, in a directory per
// domain (mode 0700). A volume is created sparse; before its space is given back, every byte of it is
// overwritten with zeros and flushed, so whatever reads the freed blocks later (or a process that still
// holds the file open) finds nothing of the old data. The overwrite can be paced, so that a background
// worker deleting a large volume does not take the disk from every other tenant.
import { constants } from 'node:fs';
import { mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const zeroChunk = Buffer.alloc(1024 * 1024);
const safeId = /^(dom|vol)_[0-9a-z]{26}$/;

export interface VolumeRef {
  readonly domainId: string;
  readonly volumeId: string;
}

export class VolumeDisks {
  constructor(private readonly root: string) {}

  /** Where a volume's bytes live; ids are checked so a path can never leave the root. */
  path(ref: VolumeRef): string {
    if (!safeId.test(ref.domainId) || !safeId.test(ref.volumeId)) throw new Error('invalid volume reference');
    return join(this.root, ref.domainId, `${ref.volumeId}.img`);
  }

  /** Creates the volume's file at its full size (sparse). Idempotent: an existing file is kept. */
  async create(ref: VolumeRef, sizeBytes: number): Promise<void> {
    await mkdir(join(this.root, ref.domainId), { recursive: true, mode: 0o700 });
    const file = await open(this.path(ref), constants.O_CREAT | constants.O_RDWR, 0o600);
    try {
      const { size } = await file.stat();
      if (size !== sizeBytes) await file.truncate(sizeBytes);
    } finally {
      await file.close();
    }
  }

  /**
   * Overwrites the whole volume with zeros, flushes it to disk, then removes the file. Idempotent: a
   * volume already gone is done. With `pace`, at most `bytesPerSecond` are written per second, and
   * `between` runs after each chunk: it may throw to stop (the file then stays, to be zeroed again from
   * its start).
   */
  async zeroAndRelease(
    ref: VolumeRef,
    pace?: { readonly bytesPerSecond: number; readonly between: (zeroed: number) => Promise<void> },
  ): Promise<void> {
    const path = this.path(ref);
    let file;
    try {
      file = await open(path, constants.O_WRONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const { size } = await file.stat();
      const started = Date.now();
      for (let offset = 0; offset < size; offset += zeroChunk.length) {
        const length = Math.min(zeroChunk.length, size - offset);
        await file.write(zeroChunk, 0, length, offset);
        if (pace === undefined) continue;
        const ahead = ((offset + length) / pace.bytesPerSecond) * 1000 - (Date.now() - started);
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
        await pace.between(offset + length);
      }
      await file.datasync();
    } finally {
      await file.close();
    }
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Removes a volume's file that nobody ever wrote (a create that failed): nothing to overwrite. */
  async discard(ref: VolumeRef): Promise<void> {
    await unlink(this.path(ref)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /**
   * Removes a deleted domain's directory once its volumes are gone: any volume file still in it (one a
   * crash left) is zeroed and removed first. Idempotent: a directory already gone is done.
   */
  async releaseDomain(domainId: string): Promise<void> {
    if (!safeId.test(domainId)) throw new Error('invalid volume reference');
    const dir = join(this.root, domainId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names) {
      const volumeId = name.replace(/\.img$/, '');
      if (name.endsWith('.img') && safeId.test(volumeId)) await this.zeroAndRelease({ domainId, volumeId });
      else await unlink(join(dir, name));
    }
    await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Whether the volume's file exists (for tests and the reconciler). */
  async exists(ref: VolumeRef): Promise<boolean> {
    return stat(this.path(ref)).then(
      () => true,
      () => false,
    );
  }

  /** Every volume file under the root, with its last change (for the reconciler's orphan sweep). */
  async list(): Promise<(VolumeRef & { modifiedAt: Date })[]> {
    const found: (VolumeRef & { modifiedAt: Date })[] = [];
    let domains: string[];
    try {
      domains = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return found;
      throw error;
    }
    for (const domainId of domains.filter((d) => safeId.test(d))) {
      for (const name of await readdir(join(this.root, domainId))) {
        const volumeId = name.replace(/\.img$/, '');
        if (!name.endsWith('.img') || !safeId.test(volumeId)) continue;
        const ref = { domainId, volumeId };
        const info = await stat(this.path(ref)).catch(() => null);
        if (info !== null) found.push({ ...ref, modifiedAt: info.mtime });
      }
    }
    return found;
  }
}
