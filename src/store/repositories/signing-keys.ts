// Signing keys: each domain's Ed25519 keys (a current one, a next one, and retired ones still published).
// A domain's own keys are read and changed in its transaction; the key set of every active domain, and
// the lookup of a token's key by `kid`, read published keys only (not retired, or retired but still
// within their publication).
import type { SigningKeyRow } from '../schema.js';
import type { DomainQueries, DomainTx, Tx } from '../store.js';

/** Records a new key (its private half sealed); a current one is active from `at`. */
export async function insertSigningKey(
  tx: DomainTx,
  k: {
    kid: string;
    domainId: string;
    state: 'next' | 'current';
    publicJwk: unknown;
    sealedPrivateKey: string;
    at: Date;
  },
): Promise<void> {
  await tx
    .insertInto('signing_keys')
    .values({
      kid: k.kid,
      domain_id: k.domainId,
      state: k.state,
      public_jwk: JSON.stringify(k.publicJwk),
      private_key: k.sealedPrivateKey,
      created_at: k.at,
      activated_at: k.state === 'current' ? k.at : null,
    })
    .execute();
}

/**
 * The statement (for `Store.read`) of the domain's keys that are not retired (at most a current and a
 * next one), with their private halves still sealed.
 */
export function unretiredKeysStatement(db: DomainQueries, domainId: string) {
  return db
    .selectFrom('signing_keys')
    .select(['kid', 'state', 'private_key'])
    .where('domain_id', '=', domainId)
    .where('state', '<>', 'retired');
}

/** The states of the domain's keys that are not retired (at most a current and a next one). */
export async function unretiredKeyStates(tx: DomainTx, domainId: string): Promise<SigningKeyRow['state'][]> {
  const rows = await tx
    .selectFrom('signing_keys')
    .select('state')
    .where('domain_id', '=', domainId)
    .where('state', '<>', 'retired')
    .execute();
  return rows.map((r) => r.state);
}

/** The domain's current key, its private half still sealed; throws when there is none. */
export function currentSigningKey(
  tx: DomainTx,
  domainId: string,
): Promise<{ kid: string; private_key: string }> {
  return tx
    .selectFrom('signing_keys')
    .select(['kid', 'private_key'])
    .where('domain_id', '=', domainId)
    .where('state', '=', 'current')
    .executeTakeFirstOrThrow();
}

/** Retires the domain's current key, published until `publishUntil`; answers its kid. */
export async function retireCurrentKey(
  tx: DomainTx,
  domainId: string,
  at: Date,
  publishUntil: Date,
): Promise<string> {
  const old = await tx
    .updateTable('signing_keys')
    .set({ state: 'retired', retired_at: at, publish_until: publishUntil })
    .where('domain_id', '=', domainId)
    .where('state', '=', 'current')
    .returning('kid')
    .executeTakeFirstOrThrow();
  return old.kid;
}

/** Makes the domain's next key its current one from `at`; answers its kid. */
export async function promoteNextKey(tx: DomainTx, domainId: string, at: Date): Promise<string> {
  const promoted = await tx
    .updateTable('signing_keys')
    .set({ state: 'current', activated_at: at })
    .where('domain_id', '=', domainId)
    .where('state', '=', 'next')
    .returning('kid')
    .executeTakeFirstOrThrow();
  return promoted.kid;
}

/** The domain's keys, oldest first, without their private halves. */
export function signingKeys(
  tx: DomainTx,
  domainId: string,
): Promise<Omit<SigningKeyRow, 'public_jwk' | 'private_key'>[]> {
  return tx
    .selectFrom('signing_keys')
    .select(['kid', 'domain_id', 'state', 'created_at', 'activated_at', 'retired_at', 'publish_until'])
    .where('domain_id', '=', domainId)
    .orderBy('created_at')
    .orderBy('kid')
    .execute();
}

/** The public keys published at `now` by active domains (only `domainId`'s when given), by domain and age. */
export async function publishedKeys(tx: Tx, now: Date, domainId?: string): Promise<Record<string, string>[]> {
  let q = tx
    .selectFrom('signing_keys')
    .innerJoin('domains', 'domains.id', 'signing_keys.domain_id')
    .select('signing_keys.public_jwk')
    .where('domains.status', '=', 'active')
    .where((eb) =>
      eb.or([eb('signing_keys.state', '<>', 'retired'), eb('signing_keys.publish_until', '>', now)]),
    );
  if (domainId !== undefined) q = q.where('signing_keys.domain_id', '=', domainId);
  const rows = await q.orderBy('signing_keys.domain_id').orderBy('signing_keys.created_at').execute();
  return rows.map((r) => r.public_jwk);
}

/**
 * The statement (for `Store.read`) that finds the key `kid` if an active domain still publishes it at
 * `now`, with the session `sessionId` of `subject` when that session is live for the key's domain and
 * its principal active (null columns otherwise).
 */
export function publishedKeyWithSessionStatement(
  db: DomainQueries,
  kid: string,
  sessionId: string,
  subject: string,
  now: Date,
) {
  return db
    .selectFrom('signing_keys')
    .innerJoin('domains', 'domains.id', 'signing_keys.domain_id')
    .leftJoin('sessions', (join) =>
      join
        .onRef('sessions.domain_id', '=', 'signing_keys.domain_id')
        .on('sessions.id', '=', sessionId)
        .on('sessions.principal_id', '=', subject)
        .on('sessions.revoked_at', 'is', null)
        .on('sessions.expires_at', '>', now),
    )
    .leftJoin('principals', (join) =>
      join.onRef('principals.id', '=', 'sessions.principal_id').on('principals.status', '=', 'active'),
    )
    .select([
      'signing_keys.domain_id',
      'signing_keys.public_jwk',
      'domains.slug',
      'sessions.id as session_id',
      'sessions.expires_at as session_expires_at',
      'principals.id as principal_id',
      'principals.role',
    ])
    .where('signing_keys.kid', '=', kid)
    .where('domains.status', '=', 'active')
    .where((eb) =>
      eb.or([eb('signing_keys.state', '<>', 'retired'), eb('signing_keys.publish_until', '>', now)]),
    );
}
