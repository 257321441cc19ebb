// What the two storage isolation probes (a directory, S3) share: a canary object placed in B before the
// attempts and removed after them, the read of a key as A that must not return B's canary, and the last
// check that B's canary is still there, unchanged. Each probe brings its own attempts on its own layout.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectStore, ProbeAttempt, ProbeReport, ProbeSide, ResourceRef } from '../provider.js';

/** What the probe frame needs of a provider: its object API and whether a resource exists. */
export interface CanaryTarget extends ObjectStore {
  exists(ref: ResourceRef): Promise<boolean>;
}

/** The object placed in B: its key and its plaintext. */
export interface Canary {
  readonly key: string;
  readonly bytes: Buffer;
}

export async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

export function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `failed with ${code}` : 'failed';
}

/**
 * Runs `attempts` with B's canary in place: nothing when either side's resource is missing (nothing could
 * be shown), and the canary removed afterwards whatever happened. Refused only if every attempt was.
 */
export async function probeWithCanary(
  target: CanaryTarget,
  a: ProbeSide,
  b: ProbeSide,
  attempts: (canary: Canary) => Promise<ProbeAttempt[]>,
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
  const canary: Canary = {
    key: `.bulkhead-probe/${randomBytes(16).toString('hex')}`,
    bytes: randomBytes(1000),
  };
  await target.putObject(b.ref, canary.key, Readable.from([canary.bytes]), canary.bytes.length);
  try {
    const made = await attempts(canary);
    return { refused: made.every((attempt) => attempt.refused), attempts: made };
  } finally {
    await target.deleteObject(b.ref, canary.key);
  }
}

/**
 * Reads `key` as A (`ref`): refused unless what comes back is B's canary. `otherwise` says what A got
 * instead: whether an object was found at all.
 */
export async function readAsA(
  target: ObjectStore,
  ref: ResourceRef,
  key: string,
  canary: Canary,
  attempt: string,
  otherwise: (found: boolean) => string,
): Promise<ProbeAttempt> {
  try {
    const found = await target.getObject(ref, key);
    const leaked = found !== null && (await readAll(found.body)).equals(canary.bytes);
    return { attempt, refused: !leaked, detail: leaked ? "A read B's canary" : otherwise(found !== null) };
  } catch (error) {
    return { attempt, refused: true, detail: describe(error) };
  }
}

/** Reading any of A's objects by a key meant for B's: no object, or only A's own. */
export const notB = (found: boolean): string => (found ? "only A's own object" : 'no such object for A');

/** The last attempt: B's canary is unchanged (by the probe's own fingerprint) and B still reads it. */
export async function canaryIntact(
  target: ObjectStore,
  b: ProbeSide,
  canary: Canary,
  unchanged: () => Promise<boolean>,
): Promise<ProbeAttempt> {
  const intact = await target.getObject(b.ref, canary.key);
  const same = (await unchanged()) && intact !== null && (await readAll(intact.body)).equals(canary.bytes);
  return {
    attempt: "B's canary after all attempts",
    refused: same,
    detail: same ? 'unchanged and still readable by B' : 'changed or unreadable',
  };
}
