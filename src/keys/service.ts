// Provisioning keys: issued to one domain, shown once, stored as a keyed hash, rotated with a stated
// overlap, revoked at once. Authentication refuses every bad key with the same answer and logs why.
// Each process remembers which domain the keys it verified belong to (`knownDomain`), so a domain over its
// share can be refused before a key of it is read: that memory only ever refuses earlier, it admits no one.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor, Principal } from '../policy/principal.js';
import { normaliseScopes, type Scope } from '../policy/scopes.js';
import type { KeyRow } from '../store/schema.js';
import { NoticeWatch } from '../store/notice-watch.js';
import { deferToCommit, type Store, type Tx } from '../store/store.js';
import { rowView } from '../store/views.js';
import { announceKeyChange, keyChangeChannel, keyChangeFromNotice } from './changes.js';
import { findDomain, lockDomain } from '../store/repositories/domains.js';
import {
  domainKeys,
  findKey,
  insertKey,
  keyByHashStatement,
  keyRefusal,
  liveKeyGuard,
  markKeyRevoked,
  setKeyExpiry,
  touchKeyStatement,
  type Condition,
} from '../store/repositories/keys.js';
import { checkKeyShape, generateKey, keyDisplayPrefix } from './format.js';
import { maxRotationOverlapSeconds } from './rotation.js';
import { keyedHash, sameHash } from './hash.js';

export interface KeyView {
  readonly id: string;
  readonly domainId: string;
  readonly name: string | null;
  readonly prefix: string;
  readonly scopes: Scope[];
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly replacesKeyId: string | null;
}

export interface IssuedKey extends KeyView {
  /** The secret, returned this once and never again. */
  readonly key: string;
}

export interface IssueKeyInput {
  readonly name?: string | undefined;
  /** Kinds (`postgres`) or kinds and actions (`postgres:read`); every kind when absent. */
  readonly scopes?: readonly string[] | undefined;
  readonly expiresAt?: Date | undefined;
}

export { maxRotationOverlapSeconds };

function keyView(row: KeyRow): KeyView {
  const columns = [
    'id',
    'domain_id',
    'name',
    'prefix',
    'scopes',
    'created_at',
    'last_used_at',
    'expires_at',
    'revoked_at',
    'replaces_key_id',
  ] as const;
  return { ...rowView(row, columns), scopes: row.scopes as Scope[] };
}

/** A key's last-used time is written at most this often (it is shown to within a second). */
const lastUsedEveryMs = 1000;
/** PostgreSQL's division_by_zero, raised on purpose by the liveness check of a key's use. */
const divisionByZero = '22012';

/** Leaves `query` for the commit of `tx`; every value these statements carry can be written as text. */
function defer(tx: Tx, query: Parameters<typeof deferToCommit>[1]): void {
  if (!deferToCommit(tx, query)) throw new Error('a statement of a key use could not be deferred');
}

/** Why a key was refused; logged, never told to the caller. */
export type KeyRefusal =
  'prefix' | 'length' | 'charset' | 'checksum' | 'unknown' | 'revoked' | 'expired' | 'domain_inactive';

/** How many verified keys a process remembers the domain of. */
const knownKeysSize = 10_000;

interface KnownKey {
  readonly domainId: string;
  /** When the key expires (ms since the epoch); Infinity when it does not. */
  readonly until: number;
}

export class KeyService {
  // The domains of keys verified lately, by keyed hash, least recently used first. An entry lasts until
  // its key expires, and only while this process hears every change that could make a key unusable: a
  // revocation, a rotation, a domain's suspension or deletion each notify `keyChangeChannel` when they
  // commit (this process's own changes at their commit, the others' through the database). Any change
  // empties the memory, and so does losing the notifications (it stays off until they arrive again);
  // `generation` counts the emptyings, so a read from before one does not put its answer back.
  private readonly known = new Map<string, KnownKey>();
  private generation = 0;
  private readonly changes: NoticeWatch<string>;

  constructor(private readonly deps: { readonly store: Store; readonly secret: Buffer }) {
    this.changes = new NoticeWatch({
      store: deps.store,
      channel: keyChangeChannel,
      idOf: (payload) => keyChangeFromNotice(payload)?.id ?? null,
      forget: () => this.forget(),
    });
  }

  /**
   * The domain of a key this process verified and still holds to be usable, or null: an unknown key, one
   * not seen lately, or any key while changes might go unheard. Only for refusing early (the domain is
   * over its share): a key named here is still read and checked in full before it may do anything.
   */
  knownDomain(presented: string): string | null {
    if (!this.changes.hearing) return null;
    const hash = keyedHash(this.deps.secret, presented);
    const known = this.known.get(hash);
    if (known === undefined) return null;
    this.known.delete(hash);
    if (known.until <= Date.now()) return null;
    this.known.set(hash, known); // the most recently used, last
    return known.domainId;
  }

  private remember(hash: string, key: KnownKey, generation: number): void {
    if (!this.changes.hearing || generation !== this.generation) return;
    this.known.delete(hash);
    this.known.set(hash, key);
    if (this.known.size > knownKeysSize) this.known.delete(this.known.keys().next().value!);
  }

  private forget(): void {
    this.generation++;
    this.known.clear();
  }

  /** Stops listening for key changes. */
  async close(): Promise<void> {
    await this.changes.close();
  }

  async issue(actor: Actor, domainId: string, input: IssueKeyInput = {}): Promise<IssuedKey> {
    const scopes = normaliseScopes(input.scopes);
    if (input.expiresAt !== undefined && input.expiresAt.getTime() <= Date.now()) {
      throw new BulkheadError('invalid_request', 'expiresAt must be in the future.');
    }
    return this.deps.store.withDomain(domainId, async (tx) => {
      const domain = await lockDomain(tx, domainId);
      if (domain.status === 'deleted')
        throw new BulkheadError('domain_deleted', 'Keys cannot be issued for a deleted domain.');
      const key = generateKey();
      const row = await insertKey(tx, {
        id: newId('key'),
        domainId,
        name: input.name ?? null,
        prefix: keyDisplayPrefix(key),
        hash: keyedHash(this.deps.secret, key),
        scopes,
        createdAt: new Date(),
        expiresAt: input.expiresAt ?? null,
      });
      await appendAudit(tx, succeeded(actor, domainId, 'key.issue', row.id, { prefix: row.prefix, scopes }));
      return { ...keyView(row), key };
    });
  }

  async list(domainId: string): Promise<KeyView[]> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      if ((await findDomain(tx, domainId)) === undefined) throw notFound();
      return (await domainKeys(tx, domainId)).map(keyView);
    });
  }

  /** Revokes a key of this domain. A key of another domain is `not_found`, as an unknown one is. */
  async revoke(actor: Actor, domainId: string, keyId: string): Promise<KeyView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      await lockDomain(tx, domainId);
      const row = await findKey(tx, domainId, keyId);
      if (row === undefined) throw notFound();
      if (row.revoked_at !== null) return keyView(row);
      const updated = await markKeyRevoked(tx, keyId, new Date());
      await announceKeyChange(this.deps.store, tx, domainId);
      await appendAudit(tx, succeeded(actor, domainId, 'key.revoke', keyId));
      return keyView(updated);
    });
  }

  /**
   * Issues a successor with the same name and scopes; the old key keeps working for `overlapSeconds`
   * (0 ends it at once), then expires.
   */
  async rotate(
    actor: Actor,
    domainId: string,
    keyId: string,
    overlapSeconds: number,
  ): Promise<{ key: IssuedKey; previous: KeyView }> {
    if (
      !Number.isInteger(overlapSeconds) ||
      overlapSeconds < 0 ||
      overlapSeconds > maxRotationOverlapSeconds
    ) {
      throw new BulkheadError(
        'invalid_request',
        `overlapSeconds must be a whole number from 0 to ${maxRotationOverlapSeconds}.`,
      );
    }
    return this.deps.store.withDomain(domainId, async (tx) => {
      const domain = await lockDomain(tx, domainId);
      if (domain.status === 'deleted')
        throw new BulkheadError('domain_deleted', 'Keys cannot be rotated in a deleted domain.');
      const old = await findKey(tx, domainId, keyId);
      if (old === undefined) throw notFound();
      const now = new Date();
      if (old.revoked_at !== null || (old.expires_at !== null && old.expires_at <= now)) {
        throw new BulkheadError(
          'key_revoked',
          'A revoked or expired key cannot be rotated; issue a new one.',
        );
      }
      const overlapEnds = new Date(now.getTime() + overlapSeconds * 1000);
      const previous = await setKeyExpiry(
        tx,
        keyId,
        old.expires_at !== null && old.expires_at < overlapEnds ? old.expires_at : overlapEnds,
      );
      await announceKeyChange(this.deps.store, tx, domainId);
      const secret = generateKey();
      const row = await insertKey(tx, {
        id: newId('key'),
        domainId,
        name: old.name,
        prefix: keyDisplayPrefix(secret),
        hash: keyedHash(this.deps.secret, secret),
        scopes: old.scopes,
        createdAt: now,
        replacesKeyId: old.id,
      });
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'key.rotate', old.id, {
          newKeyId: row.id,
          prefix: row.prefix,
          overlapSeconds,
          previousExpiresAt: previous.expires_at?.toISOString() ?? null,
        }),
      );
      return { key: { ...keyView(row), key: secret }, previous: keyView(previous) };
    });
  }

  /**
   * Resolves a presented key to its domain, or throws `invalid_credentials` — the same error whatever
   * was wrong. Every attempt, allowed or refused, is audited with the reason.
   *
   * Two round trips: the key is read, then its use is recorded in one message (`PendingKeyUse.record`).
   */
  async authenticate(presented: string, requestId: string | null): Promise<KeyPrincipal> {
    const use = await this.authenticateLater(presented, requestId);
    await use.record();
    return use.principal;
  }

  /**
   * As `authenticate`, in one round trip: the key is read, and its use is left to the caller, who
   * records it with the change it asks for (`PendingKeyUse.deferTo`) or on its own (`record`). A key
   * refused by the read is recorded and thrown at once.
   */
  async authenticateLater(presented: string, requestId: string | null): Promise<PendingKeyUse> {
    const shape = checkKeyShape(presented);
    if (shape !== null) return this.refuse(shape, null, null, requestId, presented);
    const hash = keyedHash(this.deps.secret, presented);
    const now = new Date();
    this.changes.start();
    const generation = this.generation;
    const [[row]] = await this.deps.store.systemRead('authenticate', (db) => [keyByHashStatement(db, hash)]);
    const refusal: KeyRefusal | null =
      row === undefined || !sameHash(row.hash, hash) ? 'unknown' : keyRefusal(row, now);
    if (refusal !== null || row === undefined) {
      return this.refuse(refusal ?? 'unknown', row?.id ?? null, row?.domainId ?? null, requestId, presented);
    }
    const principal: KeyPrincipal = {
      kind: 'provisioning_key',
      actor: `key:${row.id}`,
      domainId: row.domainId,
      domainSlug: row.slug,
      keyId: row.id,
      scopes: row.scopes as Scope[],
    };
    this.remember(hash, { domainId: row.domainId, until: row.expiresAt?.getTime() ?? Infinity }, generation);
    const touch = row.lastUsedAt === null || now.getTime() - row.lastUsedAt.getTime() >= lastUsedEveryMs;
    return new PendingKeyUse(this, principal, { presented, requestId, at: now, touch });
  }

  /**
   * Leaves a key's use for the commit of `tx`: its audit event, and the last-used time when it is due.
   * With `live`, a check placed after the audit chain's head is held: a revocation or suspension that
   * committed first divides by zero, and the whole transaction is rolled back. With `when`, both
   * statements count only if that condition holds when they run.
   */
  async deferUse(
    tx: Tx,
    use: PendingKeyUse,
    options: { readonly live?: boolean; readonly when?: Condition },
  ): Promise<void> {
    const { principal } = use;
    const { at, touch, requestId } = use.facts;
    const when = options.when;
    if (touch) defer(tx, touchKeyStatement(tx, principal.keyId, at, when));
    await appendAudit(
      tx,
      {
        actor: principal.actor,
        requestId,
        domainId: principal.domainId,
        action: 'key.authenticate',
        target: principal.keyId,
        outcome: 'success',
        detail: {},
      },
      when === undefined ? {} : { when },
    );
    // A statement of its own, so it reads what committed before the head was taken.
    if (options.live === true) defer(tx, liveKeyGuard(tx, principal.keyId, at));
  }

  private async refuse(
    reason: KeyRefusal,
    keyId: string | null,
    domainId: string | null,
    requestId: string | null,
    presented: string,
  ): Promise<never> {
    await this.deps.store.systemCommit('authenticate', (tx) =>
      appendAudit(tx, {
        actor: keyId === null ? 'anonymous' : `key:${keyId}`,
        requestId,
        domainId,
        action: 'key.authenticate',
        target: keyId,
        outcome: 'denied',
        detail: { reason, prefix: presented.slice(0, 12) },
      }),
    );
    throw new BulkheadError('invalid_credentials');
  }

  /** Records a use on its own, checked for liveness (`PendingKeyUse.record`). */
  async recordUse(use: PendingKeyUse): Promise<void> {
    await this.deps.store.systemCommit('authenticate', (tx) => this.deferUse(tx, use, { live: true }));
  }
}

export type KeyPrincipal = Principal & { kind: 'provisioning_key' };

/**
 * A key's use that has passed the read but is not yet recorded. Exactly one of these records it: the
 * caller's own change, through `deferTo` and then `recorded`, or `record`.
 */
export class PendingKeyUse {
  private done = false;

  constructor(
    private readonly keys: KeyService,
    readonly principal: KeyPrincipal,
    /** What the audit event and the last-used time are made of. */
    readonly facts: {
      readonly presented: string;
      readonly requestId: string | null;
      readonly at: Date;
      readonly touch: boolean;
    },
  ) {}

  get settled(): boolean {
    return this.done;
  }

  /** Leaves the use for the commit of `tx`, counting only if `when` holds then; see `recorded`. */
  deferTo(tx: Tx, when: Condition): Promise<void> {
    return this.keys.deferUse(tx, this, { when });
  }

  /**
   * Says that the request was refused before the key did anything (its domain was over its share): the
   * use is not recorded on its own. Such refusals are counted and audited per domain and interval.
   */
  unused(): void {
    this.done = true;
  }

  /** Says that a transaction holding `deferTo`'s statements committed with `when` true. */
  recorded(): void {
    this.done = true;
  }

  /**
   * Records the use in a transaction of its own, which takes the key's row before the audit chain's head,
   * as every writer does, and checks the key after it holds the head. A key revoked (or its domain
   * suspended) meanwhile is read again and refused with its reason: `invalid_credentials`.
   */
  async record(): Promise<void> {
    await this.recordOrRetry(true);
  }

  private async recordOrRetry(retry: boolean): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.keys.recordUse(this);
    } catch (error) {
      if (!retry || (error as { code?: unknown }).code !== divisionByZero) throw error;
      // No longer live: read again, and refuse it with its reason.
      const again = await this.keys.authenticateLater(this.facts.presented, this.facts.requestId);
      await again.recordOrRetry(false);
    }
  }
}
