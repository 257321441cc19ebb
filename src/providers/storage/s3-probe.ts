// The isolation probe on S3: with A's resource, try to read, overwrite and delete B's canary through the
// provider's object API with keys that try to leave A's prefix, open B's sealed object with A's key, and
// read a byte-for-byte copy of B's object placed where A's own object of that key would be. B's canary is
// fingerprinted before and after, so a probe proves something only if B's data was really there.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ProbeAttempt, ProbeReport, ProbeSide } from '../provider.js';
import type { S3StorageProvider } from './s3-objects.js';
import { canaryIntact, notB, probeWithCanary, readAsA } from './storage-canary.js';
import { keyAttempts } from './storage-probe.js';

export function probeS3Isolation(
  target: S3StorageProvider,
  a: ProbeSide,
  b: ProbeSide,
): Promise<ProbeReport> {
  return probeWithCanary(target, a, b, async (canary) => {
    const attempts: ProbeAttempt[] = [];
    const inB = await target.locate(b.ref, canary.key);
    const inA = await target.locate(a.ref, canary.key);
    const sealed = (await target.getBytes(inB.s3Key)) ?? Buffer.alloc(0);
    const original = createHash('sha256').update(sealed).digest('hex');
    const unchanged = async (): Promise<boolean> => {
      const now = await target.getBytes(inB.s3Key);
      return now !== null && createHash('sha256').update(now).digest('hex') === original;
    };
    const keys: [string, string][] = [
      ["B's own key", canary.key],
      ["B's S3 key", inB.s3Key],
      ['a relative path out of A', `../../../${inB.s3Key.slice(target.prefix.length)}`],
      ['a URL-encoded path', encodeURIComponent(`../../../${inB.s3Key.slice(target.prefix.length)}`)],
    ];
    for (const [how, key] of keys) {
      attempts.push(await readAsA(target, a.ref, key, canary, `read B's object as A by ${how}`, notB));
      try {
        await target.putObject(a.ref, key, Readable.from([Buffer.from('probe')]), 5);
        await target.deleteObject(a.ref, key);
      } catch {
        // A refusal is what the probe hopes for; whether B changed is checked below either way.
      }
      const kept = await unchanged();
      attempts.push({
        attempt: `overwrite or delete B's object as A by ${how}`,
        refused: kept,
        detail: kept ? "B's canary unchanged" : "B's canary changed or gone",
      });
    }

    attempts.push(...keyAttempts(sealed, inA, inB, a.ref.domainId !== b.ref.domainId, "B's object"));

    await target.putBytes(inA.s3Key, sealed);
    try {
      const copyAttempt = "read a copy of B's object placed under A's prefix";
      attempts.push(
        await readAsA(target, a.ref, canary.key, canary, copyAttempt, () => 'the copy did not open'),
      );
    } finally {
      await target.deleteKey(inA.s3Key);
    }

    attempts.push(await canaryIntact(target, b, canary, unchanged));
    return attempts;
  });
}
