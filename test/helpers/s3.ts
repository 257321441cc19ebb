// A real S3 server for the suites: s3rver (a file-backed S3 implementation from npm) run as its own
// process on a fresh temporary directory and a free port, with one bucket. It stands in for Ceph's RADOS
// Gateway, which cannot be brought up within CI's time. The provider talks to it over HTTP with the
// official AWS SDK, exactly as to any S3 store; `keys` lists the bucket as the store's administrator sees it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../../src/providers/storage/s3-objects.js';
import { accepts, freePort, repoRoot } from './processes.js';

export interface S3Server {
  readonly location: S3Location;
  readonly endpoint: string;
  /** The environment that points `bulkhead serve` at this store. */
  readonly env: Record<string, string>;
  /** Every key in the bucket under `prefix`, listed directly (not through Bulkhead). */
  keys(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startS3Server(bucket = 'bulkhead'): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'bulkhead-s3-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(repoRoot, 'node_modules', 's3rver', 'bin', 's3rver.js'),
      '-d',
      directory,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
      '--no-vhost-buckets',
      '--configure-bucket',
      bucket,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 20_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
      throw new Error('s3rver did not start');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const location: S3Location = {
    endpoint,
    region: 'us-east-1',
    bucket,
    prefix: 'bulkhead/',
    // s3rver's one account.
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  };
  const admin = new S3Client({
    endpoint,
    region: location.region,
    forcePathStyle: true,
    credentials: { accessKeyId: location.accessKeyId, secretAccessKey: location.secretAccessKey },
  });
  return {
    location,
    endpoint,
    env: {
      BULKHEAD_STORAGE: 's3',
      BULKHEAD_S3_ENDPOINT: endpoint,
      BULKHEAD_S3_REGION: location.region,
      BULKHEAD_S3_BUCKET: bucket,
      BULKHEAD_S3_PREFIX: location.prefix,
      BULKHEAD_S3_ACCESS_KEY_ID: location.accessKeyId,
      BULKHEAD_S3_SECRET_ACCESS_KEY: location.secretAccessKey,
    },
    async keys(prefix = '') {
      const found: string[] = [];
      let token: string | undefined;
      do {
        const page = await admin.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const item of page.Contents ?? []) if (item.Key !== undefined) found.push(item.Key);
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return found;
    },
    async stop() {
      admin.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
