// Each domain signs its tokens with its own Ed25519 key pair, so a token can only ever verify under its
// own domain's key set. A domain has a current key (signs), a next key (already published, so verifiers
// know it before it signs anything) and retired keys (published until every token they signed has
// expired). Private keys are stored only sealed under the domain's data key.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { appendAudit } from '../audit/log.js';
import type { Keyring } from '../crypto/keyring.js';
import { notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { lockDomain } from '../services/domains.js';
import type { Store, Tx } from '../store/store.js';

export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface SigningKeyView {
  readonly kid: string;
  readonly domainId: string;
  readonly state: 'next' | 'current' | 'retired';
  readonly createdAt: string;
  readonly activatedAt: string | null;
  readonly retiredAt: string | null;
  readonly publishUntil: string | null;
}

export interface SigningKeyOptions {
  readonly store: Store;
  readonly keyring: Keyring;
  /** The longest an access token lives: a retired key stays published this long (plus leeway). */
  readonly maxTokenSeconds: number;
}

interface PreparedKey {
  readonly kid: string;
  readonly jwk: PublicJwk;
  readonly sealed: string;
}

const purpose = (kid: string) => `signing-key:${kid}`;
const leewaySeconds = 60;

export class SigningKeys {
  constructor(private readonly o: SigningKeyOptions) {}

  /**
   * Makes a key pair and seals its private half. Done before any transaction opens: sealing reads the
   * domain's data key, and a transaction must not wait on a second connection (PGlite has only one).
   */
  private async prepare(domainId: string): Promise<PreparedKey> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const exported = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: exported.x! }, 'sha256');
    const jwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: exported.x!, kid, alg: 'EdDSA', use: 'sig' };
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    return { kid, jwk, sealed: await this.o.keyring.encrypt(domainId, purpose(kid), pkcs8) };
  }

  private async insert(
    tx: Tx,
    domainId: string,
    key: PreparedKey,
    state: 'next' | 'current',
    now: Date,
  ): Promise<void> {
    await tx
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        domain_id: domainId,
        state,
        public_jwk: JSON.stringify(key.jwk),
        private_key: key.sealed,
        created_at: now,
        activated_at: state === 'current' ? now : null,
      })
      .execute();
  }

  /** Makes sure the domain has a current and a next key; the domain row is locked meanwhile. */
  async ensure(domainId: string): Promise<void> {
    const have = await this.o.store.withDomain(domainId, (tx) =>
      tx
        .selectFrom('signing_keys')
        .select('state')
        .where('domain_id', '=', domainId)
        .where('state', '<>', 'retired')
        .execute(),
    );
    if (have.length === 2) return;
    const prepared = [await this.prepare(domainId), await this.prepare(domainId)];
    await this.o.store.withDomain(domainId, async (tx) => {
      if ((await lockDomain(tx, domainId)).status === 'deleted') throw notFound();
      const states = new Set(
        (
          await tx
            .selectFrom('signing_keys')
            .select('state')
            .where('domain_id', '=', domainId)
            .where('state', '<>', 'retired')
            .execute()
        ).map((r) => r.state),
      );
      const now = new Date();
      for (const state of ['current', 'next'] as const) {
        if (states.has(state)) continue;
        const key = prepared.pop()!;
        await this.insert(tx, domainId, key, state, now);
        const kid = key.kid;
        await appendAudit(tx, {
          actor: 'system',
          requestId: null,
          domainId,
          action: 'signing_key.create',
          target: kid,
          outcome: 'success',
          detail: { state },
        });
      }
    });
  }

  /** The key that signs the domain's tokens now. */
  async current(domainId: string): Promise<{ kid: string; privateKey: KeyObject }> {
    await this.ensure(domainId);
    const row = await this.o.store.withDomain(domainId, (tx) =>
      tx
        .selectFrom('signing_keys')
        .select(['kid', 'private_key'])
        .where('domain_id', '=', domainId)
        .where('state', '=', 'current')
        .executeTakeFirstOrThrow(),
    );
    const pkcs8 = await this.o.keyring.decrypt<string>(domainId, purpose(row.kid), row.private_key);
    return {
      kid: row.kid,
      privateKey: createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' }),
    };
  }

  /**
   * Starts signing with the next key, publishes a new next key, and keeps the old current key published
   * until every token it signed has expired.
   */
  async rotate(actor: Actor, domainId: string): Promise<SigningKeyView[]> {
    await this.ensure(domainId);
    const fresh = await this.prepare(domainId);
    await this.o.store.withDomain(domainId, async (tx) => {
      if ((await lockDomain(tx, domainId)).status === 'deleted') throw notFound();
      const now = new Date();
      const publishUntil = new Date(now.getTime() + (this.o.maxTokenSeconds + leewaySeconds) * 1000);
      const old = await tx
        .updateTable('signing_keys')
        .set({ state: 'retired', retired_at: now, publish_until: publishUntil })
        .where('domain_id', '=', domainId)
        .where('state', '=', 'current')
        .returning('kid')
        .executeTakeFirstOrThrow();
      const promoted = await tx
        .updateTable('signing_keys')
        .set({ state: 'current', activated_at: now })
        .where('domain_id', '=', domainId)
        .where('state', '=', 'next')
        .returning('kid')
        .executeTakeFirstOrThrow();
      await this.insert(tx, domainId, fresh, 'next', now);
      const next = fresh.kid;
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'signing_key.rotate',
        target: promoted.kid,
        outcome: 'success',
        detail: { retired: old.kid, current: promoted.kid, next, publishUntil: publishUntil.toISOString() },
      });
    });
    return this.list(domainId);
  }

  async list(domainId: string): Promise<SigningKeyView[]> {
    const rows = await this.o.store.withDomain(domainId, (tx) =>
      tx
        .selectFrom('signing_keys')
        .select(['kid', 'domain_id', 'state', 'created_at', 'activated_at', 'retired_at', 'publish_until'])
        .where('domain_id', '=', domainId)
        .orderBy('created_at')
        .orderBy('kid')
        .execute(),
    );
    return rows.map((r) => ({
      kid: r.kid,
      domainId: r.domain_id,
      state: r.state,
      createdAt: r.created_at.toISOString(),
      activatedAt: r.activated_at?.toISOString() ?? null,
      retiredAt: r.retired_at?.toISOString() ?? null,
      publishUntil: r.publish_until?.toISOString() ?? null,
    }));
  }

  /** The domain's published keys: current, next, and retired ones still within their publication. */
  async jwks(domainId: string): Promise<{ keys: PublicJwk[] }> {
    const domain = await this.o.store.withDomain(domainId, (tx) =>
      tx.selectFrom('domains').select('status').where('id', '=', domainId).executeTakeFirst(),
    );
    if (domain === undefined || domain.status !== 'active') throw notFound();
    await this.ensure(domainId);
    return { keys: await this.o.store.withDomain(domainId, (tx) => this.published(tx, domainId)) };
  }

  /** Every active domain's published keys, for verifiers that serve many domains. */
  async allJwks(): Promise<{ keys: PublicJwk[] }> {
    return { keys: await this.o.store.system('jwks', (tx) => this.published(tx)) };
  }

  private async published(tx: Tx, domainId?: string): Promise<PublicJwk[]> {
    const now = new Date();
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
    return rows.map((r) => r.public_jwk as unknown as PublicJwk);
  }
}
