// The isolation probe on S3: with A's resource, try to read, overwrite and delete B's canary through the
// provider's object API with keys that try to leave A's prefix, open B's sealed object with A's key, and
// read a byte-for-byte copy of B's object placed where A's own object of that key would be. B's canary is
// fingerprinted before and after, so a probe proves something only if B's data was really there.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ProbeAttempt, ProbeReport, ProbeSide } from '../provider.js';
import type { S3StorageProvider } from './s3-objects.js';
import { keyAttempts } from './storage-probe.js';

async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `failed with ${code}` : 'failed';
}

export async function probeS3Isolation(
  target: S3StorageProvider,
  a: ProbeSide,
  b: ProbeSide,
): Promise<ProbeReport> {
  for (const [side, ref] of [
    ['A', a.ref],
    ['B', b.ref],
  ] as const) {
    if (!(await target.exists(ref))) {
      const detail = `${side}'s resource does not exist, so nothing can be shown`;
      return { refused: false, attempts: [{ attempt: 'set up the probe', refused: false, detail }] };
    }
  }
  const attempts: ProbeAttempt[] = [];
  const canaryKey = `.bulkhead-probe/${randomBytes(16).toString('hex')}`;
  const canary = randomBytes(1000);
  await target.putObject(b.ref, canaryKey, Readable.from([canary]), canary.length);
  try {
    const inB = await target.locate(b.ref, canaryKey);
    const inA = await target.locate(a.ref, canaryKey);
    const sealed = (await target.getBytes(inB.s3Key)) ?? Buffer.alloc(0);
    const original = createHash('sha256').update(sealed).digest('hex');
    const unchanged = async (): Promise<boolean> => {
      const now = await target.getBytes(inB.s3Key);
      return now !== null && createHash('sha256').update(now).digest('hex') === original;
    };
    const keys: [string, string][] = [
      ["B's own key", canaryKey],
      ["B's S3 key", inB.s3Key],
      ['a relative path out of A', `../../../${inB.s3Key.slice(target.prefix.length)}`],
      ['a URL-encoded path', encodeURIComponent(`../../../${inB.s3Key.slice(target.prefix.length)}`)],
    ];
    for (const [how, key] of keys) {
      try {
        const found = await target.getObject(a.ref, key);
        const leaked = found !== null && (await readAll(found.body)).equals(canary);
        attempts.push({
          attempt: `read B's object as A by ${how}`,
          refused: !leaked,
          detail: leaked
            ? "A read B's canary"
            : found === null
              ? 'no such object for A'
              : "only A's own object",
        });
      } catch (error) {
        attempts.push({ attempt: `read B's object as A by ${how}`, refused: true, detail: describe(error) });
      }
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

    const copyAttempt = "read a copy of B's object placed under A's prefix";
    await target.putBytes(inA.s3Key, sealed);
    try {
      const found = await target.getObject(a.ref, canaryKey);
      const leaked = found !== null && (await readAll(found.body)).equals(canary);
      attempts.push({
        attempt: copyAttempt,
        refused: !leaked,
        detail: leaked ? "A read B's canary" : 'the copy did not open',
      });
    } catch (error) {
      attempts.push({ attempt: copyAttempt, refused: true, detail: describe(error) });
    } finally {
      await target.deleteKey(inA.s3Key);
    }

    const intact = await target.getObject(b.ref, canaryKey);
    const same = (await unchanged()) && intact !== null && (await readAll(intact.body)).equals(canary);
    attempts.push({
      attempt: "B's canary after all attempts",
      refused: same,
      detail: same ? 'unchanged and still readable by B' : 'changed or unreadable',
    });
  } finally {
    await target.deleteObject(b.ref, canaryKey);
  }
  return { refused: attempts.every((attempt) => attempt.refused), attempts };
}
