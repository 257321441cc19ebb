// Isolation between tenants, as the verifier sees it: probeIsolation(a, b) makes real attempts through
// the provider with A's resource against B's data and must report every one refused, and B's data (and
// A's) must be exactly as before afterwards. Also checked directly: A's keys never reach B's objects.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProbeSide, ResourceRef } from '../../src/providers/provider.js';
import {
  filesUnder,
  newRef,
  openStorage,
  readAll,
  streamOf,
  type StorageFixture,
} from '../helpers/storage.js';

const CANARY_BYTES = 3 * 64 * 1024 + 11;

let s: StorageFixture;
beforeEach(async () => {
  s = await openStorage();
});
afterEach(() => s.remove());

async function side(ref: ResourceRef): Promise<ProbeSide> {
  return { ref, credentials: await s.provider.create(ref) };
}

/** Every file under the root with a digest of its bytes: any change to B's data shows here. */
function snapshot(): Record<string, string> {
  return Object.fromEntries(
    filesUnder(s.root).map(({ path, bytes }) => [path, createHash('sha256').update(bytes).digest('hex')]),
  );
}

describe.each([
  ['different domains', () => [newRef(), newRef()] as const],
  [
    'two resources of one domain',
    () => {
      const a = newRef();
      return [a, newRef(a.domainId)] as const;
    },
  ],
])('probeIsolation between %s', (_name, refs) => {
  it("refuses every attempt and leaves B's canary and both directories unchanged", async () => {
    const [refA, refB] = refs();
    const a = await side(refA);
    const b = await side(refB);
    const canary = randomBytes(CANARY_BYTES);
    await s.provider.putObject(b.ref, 'canary.bin', streamOf(canary), 1e6);
    await s.provider.putObject(a.ref, 'own.bin', streamOf(randomBytes(100)), 1e6);
    const before = snapshot();

    const report = await s.provider.probeIsolation(a, b);

    expect(report.attempts.filter((x) => !x.refused)).toEqual([]);
    expect(report.refused).toBe(true);
    const kinds = report.attempts.map((x) => x.attempt);
    for (const verb of ['read', 'overwrite', 'delete']) {
      for (const how of [
        'a relative path out of A',
        'an absolute path',
        'a URL-encoded path',
        "B's own key",
      ]) {
        expect(kinds).toContain(`${verb} B's object as A by ${how}`);
      }
    }
    expect(kinds).toContain("open B's object file with A's key, in A's place");
    expect(kinds).toContain("read a copy of B's object file placed in A's directory");
    // Nothing added, changed or left behind, in B or in A.
    expect(snapshot()).toEqual(before);
    expect((await readAll((await s.provider.getObject(b.ref, 'canary.bin'))!.body)).equals(canary)).toBe(
      true,
    );
  });
});

describe('isolation, directly', () => {
  it("A's resource never reaches B's object by B's key or by paths to B's file", async () => {
    const a = newRef();
    const b = newRef();
    await s.provider.create(a);
    await s.provider.create(b);
    const secret = randomBytes(500);
    await s.provider.putObject(b, 'secret', streamOf(secret), 1e6);
    const [bFile] = filesUnder(s.root);
    const rel = bFile!.path.slice(s.root.length + 1);
    for (const key of ['secret', `../../${rel}`, bFile!.path, `..%2F..%2F${rel}`]) {
      expect(await s.provider.getObject(a, key)).toBeNull();
      expect(await s.provider.deleteObject(a, key)).toBe(false);
    }
    expect(readFileSync(bFile!.path).equals(bFile!.bytes)).toBe(true);
    expect((await readAll((await s.provider.getObject(b, 'secret'))!.body)).equals(secret)).toBe(true);
  });

  it('reports a probe as not refused when B does not exist: nothing could be shown', async () => {
    const a = await side(newRef());
    const missing = newRef();
    const report = await s.provider.probeIsolation(a, { ref: missing, credentials: {} });
    expect(report.refused).toBe(false);
    expect(report.attempts).toEqual([expect.objectContaining({ refused: false })]);
    expect(filesUnder(join(s.root))).toEqual([]);
  });

  it('can fail: a resource probed against itself is reported as reachable', async () => {
    // The negative control: the same checks, pointed at a pair that is not isolated, must say so.
    const a = await side(newRef());
    const report = await s.provider.probeIsolation(a, a);
    expect(report.refused).toBe(false);
    expect(report.attempts).toContainEqual(
      expect.objectContaining({ attempt: "read B's object as A by B's own key", refused: false }),
    );
    expect(filesUnder(s.root)).toEqual([]);
  });
});
