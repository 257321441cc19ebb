// The audit log is append-only and written in the same transaction as the change it records, under
// the lock of the chain's head row so that concurrent writers extend the chain one at a time.
import { newId } from '../domain/ids.js';
import { deferToCommit, type Tx } from '../store/store.js';
import type { AuditRow } from '../store/schema.js';
import { sql, type RawBuilder } from 'kysely';
import { bodyAroundSeq, checkLink, genesisHash, type ChainReport } from './chain.js';
import type { AuditEvent, AuditEventInput } from './events.js';

const headSetting = 'audit.head';

function toEvent(row: AuditRow): AuditEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    at: row.at.toISOString(),
    domainId: row.domain_id,
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    requestId: row.request_id,
    detail: row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Appends one event to the caller's transaction, in one statement: it locks the head row (the newest seq
 * and hash, created by the migrations), so concurrent writers extend the chain one at a time, hashes the
 * event onto the head's hash in the database, and writes the event and the new head. The hash is
 * `eventHash` of the event, computed from the same parts.
 *
 * The statement travels with the transaction's COMMIT whenever its parameters can be written as literals
 * (on either store), so it costs no round trip of its own and the head is locked only
 * while the commit runs; the chain's order is then the order of the commits. Otherwise it runs at once.
 *
 * `options.when` is an SQL condition, read when the statement runs: the event is appended only if it
 * holds (for a change whose statements are sent together, such as `Store.change`'s, where no code runs
 * between them to decide).
 */
export async function appendAudit(
  tx: Tx,
  input: AuditEventInput,
  options: { readonly when?: RawBuilder<unknown> } = {},
): Promise<void> {
  const fields = {
    id: newId('event'),
    at: new Date().toISOString(),
    domainId: input.domainId,
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome,
    requestId: input.requestId,
    detail: { ...(input.detail ?? {}) },
  };
  const { prefix, suffix } = bodyAroundSeq(fields);
  // A condition makes the event conditional on what earlier statements of the transaction did: when it
  // is false, nothing is appended and the head stays.
  const when = options.when === undefined ? sql`` : sql` WHERE ${options.when}`;
  // The head is kept apart from the events so that deleting the newest events is noticed too. It is
  // read by a sub-select, so a missing head gives a row of nulls that the insert refuses (seq is NOT
  // NULL) rather than no row and a silently missing event.
  const statement = sql<{ seq: number | string | bigint }>`
    WITH head AS (
      SELECT (SELECT value::jsonb FROM settings WHERE name = ${headSetting} FOR UPDATE) AS value
    ), linked AS (
      SELECT (value ->> 'seq')::bigint + 1 AS seq, value ->> 'hash' AS prev_hash FROM head${when}
    ), hashed AS (
      SELECT seq, prev_hash,
        encode(sha256(convert_to(prev_hash || chr(10) || ${prefix} || seq::text || ${suffix}, 'UTF8')), 'hex') AS hash
      FROM linked
    ), appended AS (
      INSERT INTO audit_events
        (seq, id, at, domain_id, actor, action, target, outcome, request_id, detail, prev_hash, hash)
      SELECT seq, ${fields.id}, ${fields.at}::timestamptz, ${fields.domainId}, ${fields.actor}, ${fields.action},
        ${fields.target}, ${fields.outcome}, ${fields.requestId}, ${JSON.stringify(fields.detail)}::jsonb,
        prev_hash, hash
      FROM hashed
    )
    UPDATE settings
    SET value = '{"seq":' || hashed.seq::text || ',"hash":"' || hashed.hash || '"}', updated_at = now()
    FROM hashed
    WHERE settings.name = ${headSetting}
    RETURNING hashed.seq
  `;
  if (deferToCommit(tx, statement.compile(tx))) return;
  const { rows } = await statement.execute(tx);
  if (rows[0] === undefined && options.when === undefined) throw new Error('the audit chain has no head row');
}

export interface AuditFilter {
  readonly domainId?: string | undefined;
  readonly action?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  /** Only events after this sequence number (for paging). */
  readonly after?: number | undefined;
  readonly limit?: number | undefined;
}

export async function listAudit(db: Tx, filter: AuditFilter = {}): Promise<AuditEvent[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (filter.domainId !== undefined) q = q.where('domain_id', '=', filter.domainId);
  if (filter.action !== undefined) q = q.where('action', '=', filter.action);
  if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('at', '<', filter.until);
  if (filter.after !== undefined) q = q.where('seq', '>', filter.after);
  const rows = await q
    .orderBy('seq', 'asc')
    .limit(filter.limit ?? 100)
    .execute();
  return rows.map(toEvent);
}

/** Calls `each` for every event in chain order, reading in pages so memory stays flat. */
export async function forEachAudit(db: Tx, each: (event: AuditEvent) => void | Promise<void>): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq', 'asc')
      .limit(1000)
      .execute();
    for (const row of rows) await each(toEvent(row));
    if (rows.length < 1000) return;
    after = Number(rows.at(-1)!.seq);
  }
}

/**
 * Walks the whole chain and names the first broken link.
 *
 * @example
 * const report = await store.system('audit', verifyAudit);
 * if (!report.ok) console.error(`broken at ${report.broken?.seq}: ${report.broken?.reason}`);
 */
export async function verifyAudit(db: Tx): Promise<ChainReport> {
  let previous = { seq: 0, hash: genesisHash };
  let checked = 0;
  let broken: ChainReport['broken'];
  await forEachAudit(db, (event) => {
    if (broken !== undefined) return;
    const reason = checkLink(event, previous);
    if (reason !== null) {
      // A gap names the missing number; the event found there instead is not the broken one.
      broken =
        reason === 'sequence_gap'
          ? { seq: previous.seq + 1, eventId: null, reason }
          : { seq: event.seq, eventId: event.id, reason };
      return;
    }
    previous = { seq: event.seq, hash: event.hash };
    checked++;
  });
  if (broken === undefined) {
    const stored = await db
      .selectFrom('settings')
      .select('value')
      .where('name', '=', headSetting)
      .executeTakeFirst();
    const head =
      stored === undefined ? { seq: 0, hash: genesisHash } : (JSON.parse(stored.value) as typeof previous);
    if (head.seq !== previous.seq || head.hash !== previous.hash) {
      broken = { seq: Math.min(head.seq, previous.seq + 1), eventId: null, reason: 'head_mismatch' };
    }
  }
  return broken === undefined
    ? { ok: true, checked, headSeq: previous.seq, headHash: previous.hash }
    : { ok: false, checked, headSeq: previous.seq, headHash: previous.hash, broken };
}
