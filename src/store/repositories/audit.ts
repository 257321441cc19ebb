// The audit log's statements: appending an event under the lock of its chain's head row, reading events
// in `seq` order, and reading the chains' heads and the cutover where they start (migration 0018). What an
// event is made of, how it is hashed and how a chain is checked live in src/audit/; the hash itself is
// computed here in the database, over the body `bodyAroundSeq` (src/audit/chain.ts) lays out around the
// `seq` the statement takes once the head is held.
import { sql, type CompiledQuery } from 'kysely';
import type { AuditRow } from '../schema.js';
import type { Tx } from '../store.js';
import type { Condition } from './keys.js';

/** Where the single chain written before migration 0018 ends, and every chain starts. */
export const cutoverSetting = 'audit.cutover';

/** An event's own fields, as they are stored (its place in a chain aside). */
export interface EventFields {
  readonly id: string;
  readonly at: string;
  readonly domainId: string | null;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: string;
  readonly requestId: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** An event to append, its fields ready for the statement, and its body around the `seq`. */
export interface EventToAppend extends EventFields {
  readonly chain: string;
  /** The hashed body before and after its `seq`. */
  readonly prefix: string;
  readonly suffix: string;
}

/**
 * The two statements that append `event` to its chain, in order: the first makes the chain's head row,
 * linked to the cutover, the first time the chain is used; the second locks the head, takes the next
 * `seq`, hashes the event onto the head's hash, writes the event and moves the head. With `when`, both
 * count only if it holds when they run. `run` executes both now and answers whether an event was
 * appended.
 */
export function appendEventStatements(
  tx: Tx,
  event: EventToAppend,
  when?: Condition,
): { readonly ensure: CompiledQuery; readonly append: CompiledQuery; run(): Promise<boolean> } {
  // A condition makes the event conditional on what earlier statements of the transaction did: when it
  // is false, nothing is appended and the head stays.
  const where = when === undefined ? sql`` : sql` WHERE ${when}`;
  const andWhen = when === undefined ? sql`` : sql` AND (${when})`;
  // A chain used for the first time gets its head, starting where the single chain ended. Nothing is
  // locked when the head is there already; two first events race on the key, and the second waits.
  const ensure = sql`
    INSERT INTO audit_heads (chain, domain_id, seq, hash)
    SELECT ${event.chain}::text, ${event.domainId}::text, (value::jsonb ->> 'seq')::bigint, value::jsonb ->> 'hash'
    FROM settings WHERE name = ${cutoverSetting}${andWhen}
    ON CONFLICT (chain) DO NOTHING
  `;
  // The head is kept apart from the events so that deleting a chain's newest events is noticed too. It
  // is read by a sub-select, so a missing head gives a row of nulls that the insert refuses (seq is NOT
  // NULL) rather than no row and a silently missing event. The seq is taken once the head is held, so
  // within a chain the seq grows in the order of the links.
  const append = sql<{ seq: number | string | bigint }>`
    WITH head AS (
      SELECT (SELECT hash FROM audit_heads WHERE chain = ${event.chain} FOR UPDATE) AS hash
    ), linked AS (
      SELECT CASE WHEN hash IS NOT NULL THEN nextval('audit_event_seq') END AS seq, hash AS prev_hash
      FROM head${where}
    ), hashed AS (
      SELECT seq, prev_hash,
        encode(sha256(convert_to(prev_hash || chr(10) || ${event.prefix} || seq::text || ${event.suffix}, 'UTF8')), 'hex') AS hash
      FROM linked
    ), appended AS (
      INSERT INTO audit_events
        (seq, id, at, domain_id, actor, action, target, outcome, request_id, detail, prev_hash, hash)
      SELECT seq, ${event.id}, ${event.at}::timestamptz, ${event.domainId}, ${event.actor}, ${event.action},
        ${event.target}, ${event.outcome}, ${event.requestId}, ${JSON.stringify(event.detail)}::jsonb,
        prev_hash, hash
      FROM hashed
    )
    UPDATE audit_heads
    SET seq = hashed.seq, hash = hashed.hash
    FROM hashed
    WHERE audit_heads.chain = ${event.chain}
    RETURNING hashed.seq
  `;
  return {
    ensure: ensure.compile(tx),
    append: append.compile(tx),
    async run() {
      await ensure.execute(tx);
      const { rows } = await append.execute(tx);
      return rows[0] !== undefined;
    },
  };
}

/** What `auditEvents` selects by. */
export interface AuditRowFilter {
  readonly domainId?: string | undefined;
  readonly action?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  /** Only events after this sequence number (for paging). */
  readonly after?: number | undefined;
  readonly limit: number;
}

/** Events in `seq` order, as `filter` selects them. */
export function auditEvents(db: Tx, filter: AuditRowFilter): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (filter.domainId !== undefined) q = q.where('domain_id', '=', filter.domainId);
  if (filter.action !== undefined) q = q.where('action', '=', filter.action);
  if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('at', '<', filter.until);
  if (filter.after !== undefined) q = q.where('seq', '>', filter.after);
  return q.orderBy('seq', 'asc').limit(filter.limit).execute();
}

/** Every chain's head: its newest event's seq and hash, by chain. */
export function auditHeads(
  db: Tx,
): Promise<{ chain: string; seq: string | number | bigint; hash: string }[]> {
  return db.selectFrom('audit_heads').select(['chain', 'seq', 'hash']).execute();
}

/** The cutover's stored value (JSON of its seq and hash), or undefined before migration 0018's data. */
export async function auditCutover(db: Tx): Promise<string | undefined> {
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('name', '=', cutoverSetting)
    .executeTakeFirst();
  return row?.value;
}
