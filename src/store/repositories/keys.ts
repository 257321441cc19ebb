// Whether a provisioning key may still be used, written once. A key is live when it is not revoked, has
// not expired at the moment of use, and its domain is active. `liveKey` is the rule in SQL, for the
// statements that check it after the domain row is locked (so a revocation or suspension that committed
// first is seen); `keyRefusal` is the same rule over a row already read, where the reason must be told.
// A domain's deletion revokes all its keys at once (`revokeDomainKeys`). The key service's own reads and
// writes (issue, list, revoke, rotate, the read of a presented key and the statements of its use) are here
// too.
import { sql, type CompiledQuery, type RawBuilder } from 'kysely';
import type { DomainStatus, KeyRow } from '../schema.js';
import type { DomainTx, SystemQueries, Tx } from '../store.js';

/** A condition read when a deferred statement runs (see `Store.change`): opaque outside the store. */
export type Condition = RawBuilder<unknown>;

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

/** A key as issued, before its first use. */
export interface NewKey {
  readonly id: string;
  readonly domainId: string;
  readonly name: string | null;
  readonly prefix: string;
  readonly hash: string;
  readonly scopes: readonly string[];
  readonly createdAt: Date;
  readonly expiresAt?: Date | null;
  readonly replacesKeyId?: string;
}

/** Stores a new key and answers its row. */
export function insertKey(tx: DomainTx, key: NewKey): Promise<KeyRow> {
  return tx
    .insertInto('provisioning_keys')
    .values({
      id: key.id,
      domain_id: key.domainId,
      name: key.name,
      prefix: key.prefix,
      hash: key.hash,
      scopes: JSON.stringify(key.scopes),
      created_at: key.createdAt,
      ...(key.expiresAt === undefined ? {} : { expires_at: key.expiresAt }),
      ...(key.replacesKeyId === undefined ? {} : { replaces_key_id: key.replacesKeyId }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The domain's keys, oldest first. */
export function domainKeys(tx: DomainTx, domainId: string): Promise<KeyRow[]> {
  return tx
    .selectFrom('provisioning_keys')
    .selectAll()
    .where('domain_id', '=', domainId)
    .orderBy('id', 'asc')
    .execute();
}

/** One key of the domain; undefined when the domain has no such key. */
export function findKey(tx: DomainTx, domainId: string, keyId: string): Promise<KeyRow | undefined> {
  return tx
    .selectFrom('provisioning_keys')
    .selectAll()
    .where('id', '=', keyId)
    .where('domain_id', '=', domainId)
    .executeTakeFirst();
}

/** Revokes a key at `at` and answers its row. */
export function markKeyRevoked(tx: DomainTx, keyId: string, at: Date): Promise<KeyRow> {
  return tx
    .updateTable('provisioning_keys')
    .set({ revoked_at: at })
    .where('id', '=', keyId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Sets when a key expires and answers its row. */
export function setKeyExpiry(tx: DomainTx, keyId: string, expiresAt: Date | null): Promise<KeyRow> {
  return tx
    .updateTable('provisioning_keys')
    .set({ expires_at: expiresAt })
    .where('id', '=', keyId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The statement (for `Store.systemRead`) that finds a presented key by its keyed hash, with what its
 * liveness and its principal are made of.
 */
export function keyByHashStatement(db: SystemQueries, hash: string) {
  return db
    .selectFrom('provisioning_keys')
    .innerJoin('domains', 'domains.id', 'provisioning_keys.domain_id')
    .select([
      'provisioning_keys.id as id',
      'provisioning_keys.hash as hash',
      'provisioning_keys.domain_id as domainId',
      'provisioning_keys.scopes as scopes',
      'provisioning_keys.revoked_at as revokedAt',
      'provisioning_keys.expires_at as expiresAt',
      'provisioning_keys.last_used_at as lastUsedAt',
      'domains.status as domainStatus',
      'domains.slug as slug',
    ])
    .where('provisioning_keys.hash', '=', hash);
}

/**
 * The statement that moves a key's last-used time to `at` unless it was revoked, and only where `when`
 * holds when it runs (for a transaction's commit).
 */
export function touchKeyStatement(tx: Tx, keyId: string, at: Date, when?: Condition): CompiledQuery {
  let update = tx
    .updateTable('provisioning_keys')
    .set({ last_used_at: at })
    .where('id', '=', keyId)
    .where('revoked_at', 'is', null);
  if (when !== undefined) update = update.where(when as RawBuilder<boolean>);
  return update.compile();
}
