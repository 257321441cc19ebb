// Envelope encryption for tenant secrets: each domain has its own random 256-bit data key, stored only
// wrapped (AES-256-GCM) by the master key, with the domain id bound in as associated data so a wrapped
// key moved to another domain does not unwrap. Destroying a domain's key makes everything encrypted
// under it unreadable (crypto-shredding).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { BulkheadError } from '../errors.js';
import type { DataKeySource } from '../providers/provider.js';
import {
  destroyDomainKey,
  findDomainKey,
  insertDomainKeyIfAbsent,
} from '../store/repositories/domain-keys.js';
import type { Store, Tx } from '../store/store.js';

const version = 'v1';

function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [
    version,
    iv.toString('base64url'),
    body.toString('base64url'),
    cipher.getAuthTag().toString('base64url'),
  ].join('.');
}

function open(key: Buffer, sealed: string, aad: string): Buffer {
  const [v, iv, body, tag] = sealed.split('.');
  if (v !== version || iv === undefined || body === undefined || tag === undefined) {
    throw new Error('sealed value has an unknown format');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
}

/** A JSON value sealed under a domain's data key, bound to the domain and one purpose. */
function sealValue(dataKey: Buffer, domainId: string, purpose: string, value: unknown): string {
  return seal(dataKey, Buffer.from(JSON.stringify(value), 'utf8'), `${domainId}:${purpose}`);
}

/** The master key: configured (64 hex digits), or derived from the server secret with HKDF. */
export function deriveMasterKey(serverSecret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'bulkhead master key v1', 32));
}

export class Keyring implements DataKeySource {
  constructor(private readonly deps: { readonly store: Store; readonly masterKey: Buffer }) {
    if (deps.masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
  }

  /** The domain's data key, created on first use. A destroyed key is never recreated. */
  async dataKey(domainId: string): Promise<Buffer> {
    return this.deps.store.withDomain(domainId, (tx) => this.dataKeyIn(tx, domainId));
  }

  /** The domain's data key, read (or created) inside the caller's transaction. */
  async dataKeyIn(db: Tx, domainId: string): Promise<Buffer> {
    let row = await findDomainKey(db, domainId);
    if (row === undefined) {
      const wrapped = seal(this.deps.masterKey, randomBytes(32), `domain-key:${domainId}`);
      await insertDomainKeyIfAbsent(db, domainId, wrapped, new Date());
      // There is a row now: the one just inserted, or one a concurrent transaction committed first.
      row = await findDomainKey(db, domainId);
      if (row === undefined) throw new Error(`no data key row for ${domainId} after inserting one`);
    }
    if (row.wrapped_key === null) {
      throw new BulkheadError('not_found', "The domain's data key was destroyed.");
    }
    return this.unwrap(domainId, row.wrapped_key);
  }

  /** The domain's data key, from its wrapped form (`domain_keys.wrapped_key`). */
  private unwrap(domainId: string, wrappedKey: string): Buffer {
    return open(this.deps.masterKey, wrappedKey, `domain-key:${domainId}`);
  }

  /** Encrypts a JSON value under the domain's key; `purpose` binds it to one use (e.g. a resource id). */
  async encrypt(domainId: string, purpose: string, value: unknown): Promise<string> {
    return sealValue(await this.dataKey(domainId), domainId, purpose, value);
  }

  /** As `encrypt`, reading the data key in the caller's transaction (one round trip, no second one). */
  async encryptIn(tx: Tx, domainId: string, purpose: string, value: unknown): Promise<string> {
    return sealValue(await this.dataKeyIn(tx, domainId), domainId, purpose, value);
  }

  /**
   * As `encrypt`, with the domain's data key as the caller read it (`domain_keys.wrapped_key`, still
   * wrapped), so that reading it can travel with other statements.
   */
  encryptWithWrapped(wrappedKey: string, domainId: string, purpose: string, value: unknown): string {
    return sealValue(this.unwrap(domainId, wrappedKey), domainId, purpose, value);
  }

  async decrypt<T>(domainId: string, purpose: string, sealed: string): Promise<T> {
    return JSON.parse(
      open(await this.dataKey(domainId), sealed, `${domainId}:${purpose}`).toString('utf8'),
    ) as T;
  }

  /**
   * As `decrypt`, with the domain's data key as the caller read it (`domain_keys.wrapped_key`, still
   * wrapped), so that reading it can travel with other statements.
   */
  decryptWithWrapped<T>(wrappedKey: string, domainId: string, purpose: string, sealed: string): T {
    return JSON.parse(
      open(this.unwrap(domainId, wrappedKey), sealed, `${domainId}:${purpose}`).toString('utf8'),
    ) as T;
  }

  /** Destroys the domain's data key inside the caller's transaction. */
  destroy(tx: Tx, domainId: string): Promise<boolean> {
    // A domain that never had a key gets a destroyed one, so none can be created for it later.
    return destroyDomainKey(tx, domainId, new Date());
  }
}
