// The audit log is append-only and written in the same transaction as the change it records, under
// one advisory lock so that concurrent writers extend the chain one at a time.
import { newId } from '../domain/ids.js';
import type { Tx } from '../store/store.js';
import type { AuditRow } from '../store/schema.js';
import { checkLink, eventHash, genesisHash, type ChainReport } from './chain.js';
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
 * Appends one event inside the caller's transaction and returns it with its place in the chain.
 * The head row (the newest seq and hash, created by the migrations) is locked first, so concurrent
 * writers extend the chain one at a time; the event and the new head are written in one statement.
 */
export async function appendAudit(tx: Tx, input: AuditEventInput): Promise<AuditEvent> {
  const headRow = await tx
    .selectFrom('settings')
    .select('value')
    .where('name', '=', headSetting)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const last = JSON.parse(headRow.value) as { seq: number; hash: string };
  const unsigned = {
    seq: last.seq + 1,
    id: newId('event'),
    at: new Date().toISOString(),
    domainId: input.domainId,
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome,
    requestId: input.requestId,
    detail: { ...(input.detail ?? {}) },
    prevHash: last.hash,
  };
  const event: AuditEvent = { ...unsigned, hash: eventHash(unsigned) };
  // The head is kept apart from the events so that deleting the newest events is noticed too.
  await tx
    .with('appended', (db) =>
      db.insertInto('audit_events').values({
        seq: event.seq,
        id: event.id,
        at: new Date(event.at),
        domain_id: event.domainId,
        actor: event.actor,
        action: event.action,
        target: event.target,
        outcome: event.outcome,
        request_id: event.requestId,
        detail: JSON.stringify(event.detail),
        prev_hash: event.prevHash,
        hash: event.hash,
      }),
    )
    .updateTable('settings')
    .set({ value: JSON.stringify({ seq: event.seq, hash: event.hash }), updated_at: new Date() })
    .where('name', '=', headSetting)
    .execute();
  return event;
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
