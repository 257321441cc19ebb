// The provider contract as one suite: what every backend promises through src/providers/provider.ts,
// run on the real backend of each (one small `<provider>-contract.test.ts` per backend calls it). The
// subject says how a tenant uses its credentials and how the backend's administrator sees a resource's
// objects, so each assertion is checked by the backend itself and not only by the provider's own view.
// What only one backend does (its ACL rules, its catalogs, its file modes) stays in its own suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceKind } from '../../src/domain/kinds.js';
import { newId } from '../../src/domain/ids.js';
import {
  isProviderError,
  type Credentials,
  type ProbeSide,
  type Provider,
  type ResourceRef,
} from '../../src/providers/provider.js';

/**
 * A probe's two directions: A against B, then B against A.
 *
 * @example
 * for (const [x, y] of bothWays(a, b)) expect((await provider.probeIsolation(x, y)).refused).toBe(true);
 */
export function bothWays(a: ProbeSide, b: ProbeSide): (readonly [ProbeSide, ProbeSide])[] {
  return [
    [a, b],
    [b, a],
  ];
}

/** A tenant's live connection to its resource. */
export interface ContractSession {
  /** True while the backend still serves this connection. */
  works(): Promise<boolean>;
  close(): Promise<void>;
}

/** One backend, as the contract suite needs to see it. */
export interface ContractSubject {
  /** The suite's title, e.g. `postgres (database mode)`. */
  readonly name: string;
  readonly kind: ResourceKind;
  /** Builds the provider on its real backend. */
  open(): Promise<Provider>;
  /** Uses the credentials as a tenant would; resolves when the backend serves them, rejects with its refusal. */
  use(provider: Provider, ref: ResourceRef, credentials: Credentials): Promise<void>;
  /** What the refusal of credentials that no longer work says. */
  readonly refusal: RegExp;
  /** The resource's objects as the backend's administrator lists them (not through the provider). */
  objects(ref: ResourceRef): Promise<string[]>;
  /**
   * The credential fields that change when credentials are issued again (the password, and a URL that
   * carries it); empty when the provider hands out the same credentials each time.
   */
  readonly secrets: readonly string[];
  /** Opens a live connection with the credentials; absent where the backend has no sessions. */
  readonly session?: (credentials: Credentials) => Promise<ContractSession>;
  /** After the provider is closed: removes whatever the suite left (temporary directories, leftovers). */
  cleanup?(refs: readonly ResourceRef[]): Promise<void>;
}

/**
 * Registers the contract's tests for one backend.
 *
 * @example
 * describeProviderContract({ name: 'redis', kind: 'redis', open: () => createRedisProvider(…), … });
 */
export function describeProviderContract(subject: ContractSubject): void {
  describe(`provider contract: ${subject.name}`, () => {
    const made: ResourceRef[] = [];
    let provider: Provider;

    const newRef = (): ResourceRef => {
      const ref = { domainId: newId('domain'), resourceId: newId('resource') };
      made.push(ref);
      return ref;
    };
    const use = (ref: ResourceRef, credentials: Credentials) => subject.use(provider, ref, credentials);
    const owned = async (ref: ResourceRef) =>
      (await provider.listOwned()).filter(
        (o) => o.ref.domainId === ref.domainId && o.ref.resourceId === ref.resourceId,
      );
    /** Credentials issued again for the same resource: the same in every field but the secrets. */
    const expectReissued = (before: Credentials, after: Credentials) => {
      const rest = (c: Credentials) =>
        Object.fromEntries(Object.entries(c).filter(([k]) => !subject.secrets.includes(k)));
      expect(rest(after)).toEqual(rest(before));
      for (const field of subject.secrets) expect(after[field], field).not.toBe(before[field]);
    };

    beforeAll(async () => {
      provider = await subject.open();
      expect(provider.kind).toBe(subject.kind);
    }, 60_000);

    afterAll(async () => {
      // Whatever the tests did or failed to do: nothing made here outlives the suite.
      for (const ref of made) await provider?.delete(ref).catch(() => undefined);
      await provider?.close();
      await subject.cleanup?.(made);
    });

    it('creates a resource whose credentials work, and inspects it without showing a secret', async () => {
      const ref = newRef();
      const credentials = await provider.create(ref);
      await use(ref, credentials);
      expect(await subject.objects(ref)).not.toEqual([]);
      const found = await provider.inspect(ref);
      expect(found.exists).toBe(true);
      for (const field of subject.secrets.filter((f) => f !== 'url')) {
        expect(JSON.stringify(found)).not.toContain(String(credentials[field]));
      }
      expect(await owned(ref)).not.toEqual([]);
    });

    it('creates idempotently: the same objects once, and only the latest credentials work', async () => {
      const ref = newRef();
      const first = await provider.create(ref);
      const objects = (await subject.objects(ref)).sort();
      const listed = await owned(ref);
      const second = await provider.create(ref);
      expect((await subject.objects(ref)).sort()).toEqual(objects);
      expect(await owned(ref)).toEqual(listed);
      expectReissued(first, second);
      await use(ref, second);
      if (subject.secrets.length > 0) await expect(use(ref, first)).rejects.toThrow(subject.refusal);
    });

    it('issues credentials again with credentials(): the new ones work, the old ones no longer', async () => {
      const ref = newRef();
      const before = await provider.create(ref);
      const after = await provider.credentials(ref);
      expectReissued(before, after);
      await use(ref, after);
      if (subject.secrets.length > 0) await expect(use(ref, before)).rejects.toThrow(subject.refusal);
    });

    it('refuses credentials() for a resource that does not exist with not_found, making nothing', async () => {
      const ref = newRef();
      const error: unknown = await provider.credentials(ref).catch((e: unknown) => e);
      expect(isProviderError(error, 'not_found') && error.provider === subject.kind, String(error)).toBe(
        true,
      );
      expect(await subject.objects(ref)).toEqual([]);
      expect((await provider.inspect(ref)).exists).toBe(false);
      expect(await owned(ref)).toEqual([]);
    });

    it('deletes everything of the resource and nothing of another; deleting again is fine', async () => {
      const [ref, neighbour] = [newRef(), newRef()];
      const [credentials, neighbourCredentials] = await Promise.all([
        provider.create(ref),
        provider.create(neighbour),
      ]);
      const neighbourObjects = (await subject.objects(neighbour)).sort();
      await provider.delete(ref);
      expect(await subject.objects(ref)).toEqual([]);
      expect((await provider.inspect(ref)).exists).toBe(false);
      expect(await owned(ref)).toEqual([]);
      await expect(use(ref, credentials)).rejects.toThrow(subject.refusal);
      await provider.delete(ref);
      await provider.delete(newRef());
      expect(await subject.objects(ref)).toEqual([]);
      expect((await subject.objects(neighbour)).sort()).toEqual(neighbourObjects);
      await use(neighbour, neighbourCredentials);
    });

    it('deletes concurrently: overlapping deletes from two servers both succeed and leave nothing', async () => {
      // Two provider instances stand for two servers on one backend; each pair of deletes overlaps.
      const other = await subject.open();
      try {
        const refs = [newRef(), newRef(), newRef()];
        await Promise.all(refs.map((ref) => provider.create(ref)));
        for (const ref of refs) {
          const outcomes = await Promise.allSettled([
            provider.delete(ref),
            other.delete(ref),
            provider.delete(ref),
          ]);
          expect(
            outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason)),
            subject.name,
          ).toEqual([]);
          expect(await subject.objects(ref)).toEqual([]);
          expect((await provider.inspect(ref)).exists).toBe(false);
        }
      } finally {
        await other.close();
      }
    });

    // Declared only where the backend has sessions: a test is never skipped (docs/development.md).
    const openSession = subject.session;
    if (openSession !== undefined) {
      it('ends live sessions on delete', async () => {
        const ref = newRef();
        const session = await openSession(await provider.create(ref));
        try {
          expect(await session.works()).toBe(true);
          await provider.delete(ref);
          expect(await session.works()).toBe(false);
        } finally {
          await session.close();
        }
      });
    }

    it('probes A against B and B against A: every attempt refused, both left as they were', async () => {
      const [a, b] = [newRef(), newRef()];
      const [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
      const before = [(await subject.objects(a)).sort(), (await subject.objects(b)).sort()];
      for (const [x, y] of bothWays({ ref: a, credentials: credsA }, { ref: b, credentials: credsB })) {
        const report = await provider.probeIsolation(x, y);
        expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
        expect(report.attempts.length).toBeGreaterThan(0);
        expect(report.refused).toBe(true);
      }
      expect([(await subject.objects(a)).sort(), (await subject.objects(b)).sort()]).toEqual(before);
      await use(a, credsA);
      await use(b, credsB);
    });
  });
}
