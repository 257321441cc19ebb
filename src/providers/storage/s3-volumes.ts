// Volumes on an S3-compatible store, for several servers that must all reach every volume. A volume is
// one object, `<prefix><domainId>/volumes/<volumeId>.img`: its image sealed under its own key, wrapped by
// a key derived from the domain's data key with the volume bound in (storage-crypto.ts), so the store
// holds only ciphertext. Nothing writes into a volume yet, so its image is its size: the bytes read as
// zeros. Releasing a volume deletes the object; a deleted domain's data key is destroyed with it, which
// shreds any copy the store keeps (versions, retention; docs/operating.md, "Storage on S3").
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { VolumeRef } from './volume-disks.js';
import type { DataKeySource } from '../provider.js';
import { deriveStorageKeys } from './storage-crypto.js';
import { isMissing, openS3Client, sealWhole, type S3Location } from './s3-objects.js';

const safeId = /^(dom|vol)_[0-9a-z]{26}$/;
const VOLUME_KEY = /^(dom_[0-9a-z]{26})\/volumes\/(vol_[0-9a-z]{26})\.img$/;

/** The same surface as VolumeDisks (volume-disks.ts), which compute takes. */
export class S3VolumeDisks {
  private readonly client: S3Client;

  constructor(
    private readonly s3: S3Location,
    private readonly dataKeys: DataKeySource,
  ) {
    this.client = openS3Client(s3);
  }

  /** Where the store is, for the servers' check that they share it: `s3://bucket/prefix` at the endpoint. */
  get location(): string {
    return `s3://${this.s3.bucket}/${this.s3.prefix} at ${this.s3.endpoint ?? this.s3.region}`;
  }

  /** The volume's key; ids are checked so a key never leaves the domain's prefix. */
  key(ref: VolumeRef): string {
    if (!safeId.test(ref.domainId) || !safeId.test(ref.volumeId)) throw new Error('invalid volume reference');
    return `${this.s3.prefix}${ref.domainId}/volumes/${ref.volumeId}.img`;
  }

  /** Writes the volume's sealed image. Idempotent: an existing volume is kept. */
  async create(ref: VolumeRef, sizeBytes: number): Promise<void> {
    const key = this.key(ref);
    if (await this.exists(ref)) return;
    const { wrapKey } = deriveStorageKeys(await this.dataKeys.dataKey(ref.domainId));
    const image = Buffer.alloc(8);
    image.writeBigUInt64BE(BigInt(sizeBytes));
    const sealed = sealWhole(image, wrapKey, { resourceName: `volume ${ref.volumeId}`, fileName: 'image' });
    await this.client.send(
      new PutObjectCommand({ Bucket: this.s3.bucket, Key: key, Body: sealed, ContentLength: sealed.length }),
    );
  }

  /**
   * Deletes the volume's object (S3 has no overwrite in place: see the file header). Idempotent. The pace
   * is honoured only in that `between` runs once, so a stopping worker may still stop.
   */
  async zeroAndRelease(
    ref: VolumeRef,
    pace?: { readonly bytesPerSecond: number; readonly between: (zeroed: number) => Promise<void> },
  ): Promise<void> {
    const key = this.key(ref);
    await pace?.between(0);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: key }));
  }

  async discard(ref: VolumeRef): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: this.key(ref) }));
  }

  /** Deletes every volume object left under the domain's prefix. Idempotent. */
  async releaseDomain(domainId: string): Promise<void> {
    if (!safeId.test(domainId)) throw new Error('invalid volume reference');
    for (const { domainId: d, volumeId } of await this.listUnder(`${this.s3.prefix}${domainId}/volumes/`)) {
      await this.zeroAndRelease({ domainId: d, volumeId });
    }
  }

  async exists(ref: VolumeRef): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: this.key(ref) }));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  list(): Promise<(VolumeRef & { modifiedAt: Date })[]> {
    return this.listUnder(this.s3.prefix);
  }

  close(): void {
    this.client.destroy();
  }

  private async listUnder(prefix: string): Promise<(VolumeRef & { modifiedAt: Date })[]> {
    const found: (VolumeRef & { modifiedAt: Date })[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        const match = VOLUME_KEY.exec(item.Key?.slice(this.s3.prefix.length) ?? '');
        if (match === null) continue;
        found.push({
          domainId: match[1]!,
          volumeId: match[2]!,
          modifiedAt: item.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found;
  }
}
