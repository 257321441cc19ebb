// The isolation probe: with A's resource, try to read, overwrite and delete B's data through this
// provider's own API, using keys that try to leave A's directory, and try to open B's file with A's
// keys. A probe proves something only if B's data is really there and really unchanged afterwards, so it
// places a canary object in B, fingerprints its file, and removes it again when done.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { ProbeAttempt, ProbeReport, ProbeSide, ResourceRef } from '../provider.js';
import { HEADER_BYTES, openHeader, type ObjectContext } from './storage-crypto.js';
import { errno } from '../files.js';
import { shredFile } from './storage-fs.js';
import {
  canaryIntact,
  type CanaryTarget,
  describe,
  notB,
  probeWithCanary,
  readAsA,
} from './storage-canary.js';

/** What the probe needs of the provider beyond its public object API. */
export interface ProbeTarget extends CanaryTarget {
  readonly root: string;
  /** Where `key` of `ref` lives and the key that wraps it. */
  locate(ref: ResourceRef, key: string): Promise<{ path: string; context: ObjectContext; wrapKey: Buffer }>;
}

async function fingerprint(path: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  } catch (error) {
    if (errno(error) === 'ENOENT') return null;
    throw error;
  }
}

export function probeIsolation(target: ProbeTarget, a: ProbeSide, b: ProbeSide): Promise<ProbeReport> {
  return probeWithCanary(target, a, b, async (canary) => {
    const attempts: ProbeAttempt[] = [];
    const inB = await target.locate(b.ref, canary.key);
    const inA = await target.locate(a.ref, canary.key);
    // Read once, now: the attempts below may (if isolation is broken) change or remove it.
    const sealed = await readFile(inB.path);
    const original = createHash('sha256').update(sealed).digest('hex');
    const unchanged = async (): Promise<boolean> => (await fingerprint(inB.path)) === original;
    const rel = `${inB.context.resourceName}/objects/${inB.context.fileName}`;
    const absolute = join(target.root, rel);

    const keys: [string, string][] = [
      ["B's own key", canary.key],
      ['a relative path out of A', `../../${rel}`],
      ['a deeper relative path', `../../../../${rel}`],
      ['a path from the storage root', rel],
      ['an absolute path', absolute],
      ['a file URL', pathToFileURL(absolute).href],
      ['a URL-encoded path', encodeURIComponent(`../../${rel}`)],
      ['URL-encoded dots', `%2e%2e%2f%2e%2e%2f${rel}`],
      ['a double-encoded path', `%252e%252e%252f%252e%252e%252f${rel}`],
      ['backslashes', `..\\..\\${rel.replaceAll('/', '\\')}`],
      ['full-width dots', `．．／．．／${rel}`],
      ['a NUL-terminated path', `../../${rel}\0`],
    ];
    for (const [how, key] of keys) {
      attempts.push(await readAsA(target, a.ref, key, canary, `read B's object as A by ${how}`, notB));
      let detail: string;
      try {
        await target.putObject(a.ref, key, Readable.from([Buffer.from('probe')]), 5);
        detail = "written to A's own object";
      } catch (error) {
        detail = describe(error);
      }
      const keptAfterPut = await unchanged();
      attempts.push({
        attempt: `overwrite B's object as A by ${how}`,
        refused: keptAfterPut,
        detail: keptAfterPut ? `${detail}; B's canary unchanged` : "B's canary changed",
      });
      try {
        const deleted = await target.deleteObject(a.ref, key);
        detail = deleted ? "removed A's own object" : 'no such object for A';
      } catch (error) {
        detail = describe(error);
      }
      const keptAfterDelete = await unchanged();
      attempts.push({
        attempt: `delete B's object as A by ${how}`,
        refused: keptAfterDelete,
        detail: keptAfterDelete ? `${detail}; B's canary unchanged` : "B's canary changed or gone",
      });
    }

    attempts.push(...keyAttempts(sealed, inA, inB, a.ref.domainId !== b.ref.domainId, "B's object file"));

    // A file copied into A's directory, under the name A's own object would have.
    const copyAttempt = "read a copy of B's object file placed in A's directory";
    let placed = false;
    try {
      await copyFile(inB.path, inA.path, constants.COPYFILE_EXCL);
      placed = true;
    } catch (error) {
      // A already holds an object there (only if an attempt above reached it): say so, touch nothing.
      attempts.push({
        attempt: copyAttempt,
        refused: false,
        detail: `could not place the copy: ${describe(error)}`,
      });
    }
    if (placed) {
      try {
        attempts.push(
          await readAsA(target, a.ref, canary.key, canary, copyAttempt, () => 'the copy did not open'),
        );
      } finally {
        await shredFile(inA.path);
      }
    }

    attempts.push(await canaryIntact(target, b, canary, unchanged));
    return attempts;
  });
}

/**
 * Opening B's sealed object (`what`) with A's key: in A's place, and across domains in B's place too. Each
 * must fail. Two resources of one domain share its data key; only the place binding keeps them apart then.
 */
export function keyAttempts(
  sealed: Buffer,
  inA: { readonly wrapKey: Buffer; readonly context: ObjectContext },
  inB: { readonly context: ObjectContext },
  crossDomain: boolean,
  what: string,
): ProbeAttempt[] {
  const header = sealed.subarray(0, HEADER_BYTES);
  const opens = (wrapKey: Buffer, context: ObjectContext): boolean => {
    try {
      openHeader(header, sealed.length, wrapKey, context);
      return true;
    } catch {
      return false;
    }
  };
  const attempt = (place: string, opened: boolean): ProbeAttempt => ({
    attempt: `open ${what} with ${place}`,
    refused: !opened,
    detail: opened ? 'the object key unwrapped' : 'the object key did not unwrap',
  });
  const attempts = [attempt("A's key, in A's place", opens(inA.wrapKey, inA.context))];
  if (crossDomain) attempts.push(attempt("A's domain key, in B's place", opens(inA.wrapKey, inB.context)));
  return attempts;
}
