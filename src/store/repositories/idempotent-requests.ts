// The first answer to each create sent with an Idempotency-Key (migration 0030). A request claims its key
// in a short transaction of its own before the handler runs: the primary key makes a concurrent duplicate
// wait for that commit and then find the claim, so only one of them ever runs. The claim is a lease
// (`claimed_until`, migration 0033) its server renews while the request runs: a claim whose lease ran out
// belongs to a server that stopped, and a retry takes it over. A domain's claims live in its own isolated
// table; a create that names no domain (the operator's) in a table of the system context.
import { sql } from 'kysely';
import type { DomainTx, SystemTx } from '../store.js';

/** Where a credential's keys live: in a domain (its transaction), or the system context's table. */
export type IdempotencyPlace =
  | { readonly kind: 'domain'; readonly tx: DomainTx; readonly domainId: string }
  | { readonly kind: 'system'; readonly tx: SystemTx };

export interface IdempotencyClaim {
  readonly credential: string;
  readonly key: string;
  readonly fingerprint: string;
}

/** A claim made: the key, and when it was made, which tells it from a later claim of the same key. */
export interface HeldClaim {
  readonly credential: string;
  readonly key: string;
  readonly claimedAt: Date;
}

const held = (place: IdempotencyPlace, claim: HeldClaim) =>
  sql`${inPlace(place)} credential = ${claim.credential} AND key = ${claim.key}
      AND created_at = ${claim.claimedAt} AND status IS NULL`;

/** A stored request under the key: its fingerprint, and its answer once it has one (status null before). */
export interface StoredRequest {
  readonly fingerprint: string;
  readonly status: number | null;
  readonly body: string | null;
  readonly headers: Record<string, string> | null;
}

const table = (place: IdempotencyPlace) =>
  sql.table(place.kind === 'domain' ? 'idempotent_requests' : 'operator_idempotent_requests');
const inPlace = (place: IdempotencyPlace) =>
  place.kind === 'domain' ? sql`domain_id = ${place.domainId} AND` : sql``;

/**
 * Claims `claim.key` for a first request at `at`, held until `claimedUntil`, dropping first a stored
 * request of it older than `keptSince`, or a claim still unanswered whose lease ran out (its server stopped
 * while answering). Answers 'claimed' when the claim is this request's, 'no_domain' when the domain does
 * not exist (the request will find nothing to create in), or the request stored under the key before.
 */
export async function claimIdempotencyKey(
  place: IdempotencyPlace,
  claim: IdempotencyClaim,
  at: Date,
  times: { readonly keptSince: Date; readonly claimedUntil: Date },
): Promise<'claimed' | 'no_domain' | StoredRequest> {
  const { tx } = place;
  await sql`
    DELETE FROM ${table(place)}
    WHERE ${inPlace(place)} credential = ${claim.credential} AND key = ${claim.key}
      AND (created_at < ${times.keptSince} OR (status IS NULL AND claimed_until < ${at}))`.execute(tx);
  const columns =
    place.kind === 'domain'
      ? sql`(domain_id, credential, key, fingerprint, created_at, claimed_until)`
      : sql`(credential, key, fingerprint, created_at, claimed_until)`;
  const fields = sql`${claim.credential}, ${claim.key}, ${claim.fingerprint}, ${at}::timestamptz, ${times.claimedUntil}::timestamptz`;
  const values =
    place.kind === 'domain'
      ? sql`SELECT ${place.domainId}, ${fields} WHERE EXISTS (SELECT 1 FROM domains WHERE id = ${place.domainId})`
      : sql`VALUES (${fields})`;
  const inserted = await sql`
    INSERT INTO ${table(place)} ${columns} ${values}
    ON CONFLICT DO NOTHING RETURNING key`.execute(tx);
  if (inserted.rows.length > 0) return 'claimed';
  const { rows } = await sql<{
    fingerprint: string;
    status: number | null;
    body: string | null;
    headers: Record<string, string> | string | null;
  }>`
    SELECT fingerprint, status, body, headers FROM ${table(place)}
    WHERE ${inPlace(place)} credential = ${claim.credential} AND key = ${claim.key}`.execute(tx);
  const row = rows[0];
  // Nothing inserted and nothing there: the domain is not one this store has.
  if (row === undefined) return 'no_domain';
  const headers =
    typeof row.headers === 'string' ? (JSON.parse(row.headers) as Record<string, string>) : row.headers;
  return { fingerprint: row.fingerprint, status: row.status, body: row.body, headers };
}

/** Stores the answer of the request that claimed the key. */
export async function storeIdempotentAnswer(
  place: IdempotencyPlace,
  claim: HeldClaim,
  answer: { readonly status: number; readonly body: string; readonly headers: Record<string, string> },
): Promise<void> {
  await sql`
    UPDATE ${table(place)}
    SET status = ${answer.status}, body = ${answer.body}, headers = ${JSON.stringify(answer.headers)}::jsonb,
      claimed_until = NULL
    WHERE ${held(place, claim)}`.execute(place.tx);
}

/** Holds the claim of a request still running until `claimedUntil`; nothing once it has its answer. */
export async function renewIdempotencyClaim(
  place: IdempotencyPlace,
  claim: HeldClaim,
  claimedUntil: Date,
): Promise<void> {
  await sql`UPDATE ${table(place)} SET claimed_until = ${claimedUntil} WHERE ${held(place, claim)}`.execute(
    place.tx,
  );
}

/** Gives the key up: the request that claimed it failed, so a retry runs afresh. */
export async function releaseIdempotencyKey(place: IdempotencyPlace, claim: HeldClaim): Promise<void> {
  await sql`DELETE FROM ${table(place)} WHERE ${held(place, claim)}`.execute(place.tx);
}

/** Drops every stored request made before `before`, in every domain; answers how many. */
export async function purgeIdempotentRequests(tx: SystemTx, before: Date): Promise<number> {
  const domains = await sql`DELETE FROM idempotent_requests WHERE created_at < ${before}`.execute(tx);
  const operator = await sql`DELETE FROM operator_idempotent_requests WHERE created_at < ${before}`.execute(
    tx,
  );
  return Number(domains.numAffectedRows ?? 0n) + Number(operator.numAffectedRows ?? 0n);
}
