// Whether a provisioning key may still be used, written once. A key is live when it is not revoked, has
// not expired at the moment of use, and its domain is active. `liveKey` is the rule in SQL, for the
// statements that check it after the domain row is locked (so a revocation or suspension that committed
// first is seen); `keyRefusal` is the same rule over a row already read, where the reason must be told.
// A domain's deletion revokes all its keys at once (`revokeDomainKeys`).
import { sql, type CompiledQuery } from 'kysely';
import type { DomainStatus } from '../schema.js';
import type { DomainTx, Tx } from '../store.js';

/**
 * The liveness rule as a condition over `provisioning_keys AS k JOIN domains AS d ON d.id = k.domain_id`,
 * at the time `at`.
 */
export function liveKey(at: Date) {
  return sql<boolean>`(k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${at})
    AND d.status = 'active')`;
}

/** Why a key read at `at` is not live, or null when it is (the rule of `liveKey`). */
export function keyRefusal(
  key: {
    readonly revokedAt: Date | null;
    readonly expiresAt: Date | null;
    readonly domainStatus: DomainStatus;
  },
  at: Date,
): 'revoked' | 'expired' | 'domain_inactive' | null {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= at) return 'expired';
  if (key.domainStatus !== 'active') return 'domain_inactive';
  return null;
}

/**
 * A statement that fails with division_by_zero (22012) unless the key is live at `at`: left for a
 * transaction's commit, it rolls the whole transaction back when a revocation or suspension committed
 * first.
 */
export function liveKeyGuard(tx: Tx, keyId: string, at: Date): CompiledQuery {
  return sql`SELECT 1 / (
    SELECT count(*)::int FROM provisioning_keys k JOIN domains d ON d.id = k.domain_id
    WHERE k.id = ${keyId} AND ${liveKey(at)}
  ) AS live`.compile(tx);
}

/** Revokes every key of the domain not revoked yet, at `at`; answers how many. */
export async function revokeDomainKeys(tx: DomainTx, domainId: string, at: Date): Promise<number> {
  const revoked = await tx
    .updateTable('provisioning_keys')
    .set({ revoked_at: at })
    .where('domain_id', '=', domainId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(revoked.numUpdatedRows);
}
