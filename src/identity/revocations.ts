// Revocations as a feed: each is written in the transaction that causes it, so the feed can never
// announce a revocation that did not happen nor miss one that did. Bulkhead's own verification reads
// the session row every time; the feed exists for verifiers elsewhere (the SDK).
import { sql } from 'kysely';
import type { Tx } from '../store/store.js';

export type RevocationKind = 'session' | 'principal' | 'domain' | 'domain_restored';

export interface Revocation {
  readonly seq: number;
  readonly kind: RevocationKind;
  /** A session id, a principal id or a domain id. */
  readonly target: string;
  readonly domainId: string;
  readonly at: string;
}

/** The channel a committed revocation is announced on, so the publisher need not wait for its next poll. */
export const revocationNotifyChannel = 'bulkhead_revocations';

export async function recordRevocation(
  tx: Tx,
  kind: RevocationKind,
  target: string,
  domainId: string,
): Promise<void> {
  await tx.insertInto('revocations').values({ kind, target, domain_id: domainId, at: new Date() }).execute();
  // Delivered only if and when this transaction commits.
  await sql`SELECT pg_notify(${revocationNotifyChannel}, '')`.execute(tx);
}

/** Revocations at or after `since`, oldest first (callers overlap their reads and dedupe by seq). */
export async function revocationsSince(db: Tx, since: Date, limit = 10_000): Promise<Revocation[]> {
  const rows = await db
    .selectFrom('revocations')
    .selectAll()
    .where('at', '>=', since)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    kind: r.kind,
    target: r.target,
    domainId: r.domain_id,
    at: r.at.toISOString(),
  }));
}
