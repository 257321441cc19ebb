// Each domain signs its tokens with its own Ed25519 key pair, so a token can only ever verify under its
// own domain's key set. A domain has a current key (signs), a next key (already published, so verifiers
// know it before it signs anything) and retired keys (published until every token they signed has
// expired). Private keys are stored only sealed under the domain's data key.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import type { Keyring } from '../crypto/keyring.js';
import { notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { domainStatus, lockDomain } from '../store/repositories/domains.js';
import {
  currentSigningKey,
  insertSigningKey,
  promoteNextKey,
  publishedKeys,
  retireCurrentKey,
  signingKeys,
  unretiredKeyStates,
  unretiredKeysStatement,
} from '../store/repositories/signing-keys.js';
import { domainKeyStatement } from '../store/repositories/domain-keys.js';
import type { DomainTx, Store, Tx } from '../store/store.js';

export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** A domain's current signing key, ready to sign. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
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
const pkcs8Key = (pkcs8: string) =>
  createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
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
    tx: DomainTx,
    domainId: string,
    key: PreparedKey,
    state: 'next' | 'current',
    now: Date,
  ): Promise<void> {
    await insertSigningKey(tx, {
      kid: key.kid,
      domainId,
      state,
      publicJwk: key.jwk,
      sealedPrivateKey: key.sealed,
      at: now,
    });
  }

  /** Makes sure the domain has a current and a next key; the domain row is locked meanwhile. */
  async ensure(domainId: string): Promise<void> {
    const have = await this.o.store.withDomain(domainId, (tx) => unretiredKeyStates(tx, domainId));
    if (have.length === 2) return;
    const prepared = [await this.prepare(domainId), await this.prepare(domainId)];
    await this.o.store.withDomain(domainId, async (tx) => {
      if ((await lockDomain(tx, domainId)).status === 'deleted') throw notFound();
      const states = new Set(await unretiredKeyStates(tx, domainId));
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

  /**
   * The key that signs the domain's tokens now. Which key that is, and the domain's data key, are read
   * at every call (another process may have rotated it, or the domain's key been destroyed), in one
   * round trip; only a domain that lacks its current or next key takes the longer way through `ensure`.
   */
  async current(domainId: string): Promise<SigningKey> {
    const [keys, [dataKey]] = await this.o.store.read(domainId, (db) => [
      unretiredKeysStatement(db, domainId),
      domainKeyStatement(db, domainId),
    ]);
    const row = keys.find((k) => k.state === 'current');
    const wrapped = dataKey?.wrapped_key;
    if (row === undefined || keys.length !== 2 || typeof wrapped !== 'string') {
      // A domain still without its keys, or without a data key (never made, or destroyed): the longer
      // way, which makes what is missing or refuses.
      await this.ensure(domainId);
      const current = await this.o.store.withDomain(domainId, (tx) => currentSigningKey(tx, domainId));
      return { kid: current.kid, privateKey: await this.privateKey(domainId, current) };
    }
    const pkcs8 = this.o.keyring.decryptWithWrapped<string>(
      wrapped,
      domainId,
      purpose(row.kid),
      row.private_key,
    );
    return { kid: row.kid, privateKey: pkcs8Key(pkcs8) };
  }

  private async privateKey(domainId: string, row: { kid: string; private_key: string }): Promise<KeyObject> {
    return pkcs8Key(await this.o.keyring.decrypt<string>(domainId, purpose(row.kid), row.private_key));
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
      const retired = await retireCurrentKey(tx, domainId, now, publishUntil);
      const current = await promoteNextKey(tx, domainId, now);
      await this.insert(tx, domainId, fresh, 'next', now);
      const next = fresh.kid;
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'signing_key.rotate', current, {
          retired,
          current,
          next,
          publishUntil: publishUntil.toISOString(),
        }),
      );
    });
    return this.list(domainId);
  }

  async list(domainId: string): Promise<SigningKeyView[]> {
    const rows = await this.o.store.withDomain(domainId, (tx) => signingKeys(tx, domainId));
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
    const status = await this.o.store.withDomain(domainId, (tx) => domainStatus(tx, domainId));
    if (status !== 'active') throw notFound();
    await this.ensure(domainId);
    return { keys: await this.o.store.withDomain(domainId, (tx) => this.published(tx, domainId)) };
  }

  /**
   * The keys the domain has published so far, without making any: what a token it signed must verify
   * with (a domain with none has signed nothing), for a check that must change nothing when it refuses.
   */
  async publishedJwks(domainId: string): Promise<{ keys: PublicJwk[] }> {
    return { keys: await this.o.store.withDomain(domainId, (tx) => this.published(tx, domainId)) };
  }

  /** Every active domain's published keys, for verifiers that serve many domains. */
  async allJwks(): Promise<{ keys: PublicJwk[] }> {
    return { keys: await this.o.store.system('jwks', (tx) => this.published(tx)) };
  }

  private async published(tx: Tx, domainId?: string): Promise<PublicJwk[]> {
    const keys = await publishedKeys(tx, new Date(), domainId);
    return keys.map((jwk) => jwk as unknown as PublicJwk);
  }
}
