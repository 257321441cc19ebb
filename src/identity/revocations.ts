// Revocations as a feed: each is written in the transaction that causes it, so the feed can never
// announce a revocation that did not happen nor miss one that did. Bulkhead's own verification reads
// the session row every time; the feed exists for verifiers elsewhere (the SDK).
import {
  domainRevocationRowsSince,
  insertRevocation,
  revocationRowsSince,
} from '../store/repositories/revocations.js';
import { noticeObject } from '../store/notice-watch.js';
import type { RevocationRow } from '../store/schema.js';
import type { DomainTx, Store, SystemTx, Tx } from '../store/store.js';

export type RevocationKind = 'session' | 'principal' | 'domain' | 'domain_restored';
const kinds: readonly unknown[] = [
  'session',
  'principal',
  'domain',
  'domain_restored',
] satisfies RevocationKind[];

export interface Revocation {
  readonly seq: number;
  readonly kind: RevocationKind;
  /** A session id, a principal id or a domain id. */
  readonly target: string;
  readonly domainId: string;
  readonly at: string;
}

/**
 * The channel a committed revocation is announced on, carrying the record itself, so the publisher need
 * neither wait for its next poll nor read the record back.
 */
export const revocationNotifyChannel = 'bulkhead_revocations';

const toRevocation = (r: RevocationRow): Revocation => ({
  seq: Number(r.seq),
  kind: r.kind,
  target: r.target,
  domainId: r.domain_id,
  at: r.at.toISOString(),
});

export async function recordRevocation(
  store: Pick<Store, 'notify'>,
  tx: Tx,
  kind: RevocationKind,
  target: string,
  domainId: string,
): Promise<void> {
  const row = await insertRevocation(tx, { kind, target, domainId, at: new Date() });
  // Delivered only if and when this transaction commits.
  await store.notify(tx, revocationNotifyChannel, JSON.stringify(toRevocation(row)));
}

/** The revocation a notice carries, or null when it carries none that is well formed. */
export function revocationFromNotice(payload: string | null): Revocation | null {
  const value = noticeObject(payload);
  if (value === null) return null;
  const { seq, kind, target, domainId, at } = value;
  if (
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq <= 0 ||
    !kinds.includes(kind) ||
    typeof target !== 'string' ||
    typeof domainId !== 'string' ||
    typeof at !== 'string' ||
    Number.isNaN(Date.parse(at))
  ) {
    return null;
  }
  return { seq, kind: kind as RevocationKind, target, domainId, at };
}

/** Revocations at or after `since`, oldest first (callers overlap their reads and dedupe by seq). */
export async function revocationsSince(db: SystemTx, since: Date, limit = 10_000): Promise<Revocation[]> {
  return (await revocationRowsSince(db, since, limit)).map(toRevocation);
}

/** One domain's revocations at or after `since`, oldest first, read in that domain's scope. */
export async function domainRevocationsSince(
  db: DomainTx,
  domainId: string,
  since: Date,
  limit = 10_000,
): Promise<Revocation[]> {
  return (await domainRevocationRowsSince(db, domainId, since, limit)).map(toRevocation);
}
