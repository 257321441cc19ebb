// The audit log is append-only and written in the same transaction as the change it records. Each
// domain's events form a hash chain of their own, and the events of no domain one more (`system`): an
// event is appended under the lock of its chain's head row, so one chain is extended one event at a time
// while the chains of different domains are extended in parallel. Every chain starts linked to the head of
// the single chain that came before them (`audit.cutover`, migration 0018).
import { newId } from '../domain/ids.js';
import { deferToCommit, observeImmediateAudit, type Tx } from '../store/store.js';
import { inlineParameters } from '../store/inline.js';
import type { AuditRow } from '../store/schema.js';
import {
  appendEventStatements,
  auditCutover,
  auditEvents,
  auditHeads,
  type AuditRowFilter,
} from '../store/repositories/audit.js';
import { invoicesWithLines } from '../store/repositories/billing.js';
import { invoiceHash, storedInvoiceContent } from './invoice-hash.js';
import type { Condition } from '../store/repositories/keys.js';
import {
  bodyAroundSeq,
  checkChainLink,
  checkLink,
  genesisHash,
  type ChainBreak,
  type ChainLink,
  type ChainReport,
} from './chain.js';
import type { AuditEvent, AuditEventInput } from './events.js';

/** The chain of the events that belong to no domain. */
export const systemChain = 'system';

/** The chain an event of `domainId` is appended to. */
export function chainOf(domainId: string | null): string {
  return domainId ?? systemChain;
}

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
 * Appends one event to the caller's transaction: it locks the head row of the event's chain (its domain's,
 * or the `system` chain's), takes the next `seq`, hashes the event onto the head's hash in the database,
 * and writes the event and the new head. The hash is `eventHash` of the event, computed from the same
 * parts. A chain's head row is made, linked to the cutover, by the statement before, the first time the
 * chain is used.
 *
 * The statements travel with the transaction's COMMIT whenever their parameters can be written as
 * literals (on either store), so they cost no round trip of their own and the head is locked only while
 * the commit runs; a chain's order is then the order of its commits. Otherwise they run at once.
 *
 * `options.when` is an SQL condition, read when the statements run: the event is appended only if it
 * holds (for a change whose statements are sent together, such as `Store.change`'s, where no code runs
 * between them to decide).
 */
export async function appendAudit(
  tx: Tx,
  input: AuditEventInput,
  options: { readonly when?: Condition } = {},
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
  const chain = chainOf(fields.domainId);
  const { prefix, suffix } = bodyAroundSeq(fields);
  const statements = appendEventStatements(tx, { ...fields, chain, prefix, suffix }, options.when);
  // Both statements are left for the commit, in order, or both run now: the second needs the first.
  const { ensure, append } = statements;
  if (inlineParameters(append.sql, append.parameters) !== null && deferToCommit(tx, ensure)) {
    if (!deferToCommit(tx, append)) throw new Error('an audit event could not follow its head to the commit');
    return;
  }
  const started = performance.now();
  const appended = await statements.run();
  observeImmediateAudit(tx, (performance.now() - started) / 1000);
  if (!appended && options.when === undefined) throw new Error('the audit chain has no head row');
}

/** What `listAudit` selects by: the store's filter, at most 100 events unless `limit` says otherwise. */
export interface AuditFilter extends Omit<AuditRowFilter, 'limit'> {
  readonly limit?: number | undefined;
}

export async function listAudit(db: Tx, filter: AuditFilter = {}): Promise<AuditEvent[]> {
  const rows = await auditEvents(db, { ...filter, limit: filter.limit ?? 100 });
  return rows.map(toEvent);
}

/** Calls `each` for every event in chain order, reading in pages so memory stays flat. */
export async function forEachAudit(db: Tx, each: (event: AuditEvent) => void | Promise<void>): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await auditEvents(db, { after, limit: 1000 });
    for (const row of rows) await each(toEvent(row));
    if (rows.length < 1000) return;
    after = Number(rows.at(-1)!.seq);
  }
}

async function readHeads(db: Tx): Promise<Map<string, ChainLink>> {
  const rows = await auditHeads(db);
  return new Map(rows.map((r) => [r.chain, { seq: Number(r.seq), hash: r.hash }]));
}

/**
 * Walks every chain — the single one written before migration 0018 up to its cutover, then each
 * domain's and the one of the events of no domain — and names the first broken link in `seq` order.
 * The heads are read first: an event appended to a chain after that (its seq above the head read) is
 * left for the next check, provided the chain's head has reached it by the end of this one.
 *
 * @example
 * const report = await store.system('audit', verifyAudit);
 * if (!report.ok) console.error(`broken at ${report.broken?.seq}: ${report.broken?.reason}`);
 */
export async function verifyAudit(db: Tx): Promise<ChainReport> {
  const stored = await auditCutover(db);
  const cutover = stored === undefined ? null : (JSON.parse(stored) as ChainLink);
  const heads = await readHeads(db);
  // The single chain, then each chain's newest checked event; and the newest events left for later.
  let single: ChainLink = { seq: 0, hash: genesisHash };
  let singleEnded = false;
  const chains = new Map<string, ChainLink>();
  const later = new Map<string, number>();
  let newest: ChainLink = single;
  let checked = 0;
  // Each closed invoice's hash as its `invoice.close` event recorded it, checked against the invoice after the chains.
  const closed = new Map<string, { seq: number; eventId: string; contentHash: unknown }>();
  let broken: ChainReport['broken'];
  const breakAt = (seq: number, eventId: string | null, reason: ChainBreak) => {
    if (broken === undefined || seq < broken.seq) broken = { seq, eventId, reason };
  };
  // The single chain must end exactly at the cutover: its newest events cannot go missing unseen.
  const endSingle = () => {
    if (singleEnded) return;
    singleEnded = true;
    if (cutover === null) breakAt(single.seq + 1, null, 'head_mismatch');
    else if (single.seq !== cutover.seq || single.hash !== cutover.hash)
      breakAt(Math.min(cutover.seq, single.seq + 1), null, 'head_mismatch');
  };
  await forEachAudit(db, (event) => {
    if (broken !== undefined) return;
    if (cutover !== null && event.seq <= cutover.seq) {
      const reason = checkLink(event, single);
      // A gap names the missing number; the event found there instead is not the broken one.
      if (reason === 'sequence_gap') breakAt(single.seq + 1, null, reason);
      else if (reason !== null) breakAt(event.seq, event.id, reason);
      else {
        single = { seq: event.seq, hash: event.hash };
        newest = single;
        checked++;
      }
      return;
    }
    endSingle();
    if (broken !== undefined) return;
    const chain = chainOf(event.domainId);
    const head = heads.get(chain);
    if (head === undefined || event.seq > head.seq) {
      later.set(chain, Math.max(later.get(chain) ?? 0, event.seq));
      return;
    }
    const reason = checkChainLink(event, chains.get(chain) ?? cutover!);
    if (reason !== null) return breakAt(event.seq, event.id, reason);
    chains.set(chain, { seq: event.seq, hash: event.hash });
    newest = { seq: event.seq, hash: event.hash };
    checked++;
    if (event.action === 'invoice.close' && event.target !== null)
      closed.set(event.target, {
        seq: event.seq,
        eventId: event.id,
        contentHash: event.detail['contentHash'],
      });
    // A deleted domain's invoice purged after its retention period: its absence is accounted for (one
    // still there after its purge event has no close to match, and breaks as an invoice no event records).
    if (event.action === 'invoice.purge' && event.target !== null) closed.delete(event.target);
  });
  if (broken === undefined) endSingle();
  if (broken === undefined && cutover !== null) {
    // Each head names its chain's newest event: a chain whose newest events were deleted, or whose head
    // was moved, does not end there.
    for (const [chain, head] of heads) {
      const end = chains.get(chain) ?? cutover;
      if (end.seq !== head.seq || end.hash !== head.hash)
        breakAt(head.seq > end.seq ? head.seq : end.seq, null, 'head_mismatch');
    }
    // Events beyond the heads read at the start were appended meanwhile, and their chain's head must have
    // reached them since; an event no head accounts for was put there by hand.
    if (later.size > 0) {
      const now = await readHeads(db);
      for (const [chain, seq] of later) {
        if ((now.get(chain)?.seq ?? -1) < seq) breakAt(seq, null, 'head_mismatch');
      }
    }
  }
  if (broken === undefined) await checkInvoices(db, closed, newest, breakAt);
  return broken === undefined
    ? { ok: true, checked, headSeq: newest.seq, headHash: newest.hash }
    : { ok: false, checked, headSeq: newest.seq, headHash: newest.hash, broken };
}

/**
 * Checks every closed invoice against the event that recorded its closing: the hash of what the invoice
 * says now must be the one the event holds (and the invoice's own). An invoice changed after closing,
 * one whose event is gone, and an event whose invoice is gone (unless an `invoice.purge` event of its
 * chain says it was purged) each break at that event (or, for an invoice no event records, at the newest
 * event checked).
 */
async function checkInvoices(
  db: Tx,
  closed: ReadonlyMap<string, { seq: number; eventId: string; contentHash: unknown }>,
  newest: ChainLink,
  breakAt: (seq: number, eventId: string | null, reason: ChainBreak) => void,
): Promise<void> {
  const seen = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const page = await invoicesWithLines(db, after, 500);
    if (page.length === 0) break;
    after = page.at(-1)!.invoice.id;
    for (const { invoice, lines } of page) {
      seen.add(invoice.id);
      const event = closed.get(invoice.id);
      const hash = invoiceHash(storedInvoiceContent(invoice, lines));
      if (event === undefined) breakAt(newest.seq, null, 'invoice_mismatch');
      else if (hash !== event.contentHash || hash !== invoice.content_hash)
        breakAt(event.seq, event.eventId, 'invoice_mismatch');
    }
  }
  for (const [invoiceId, event] of closed) {
    if (!seen.has(invoiceId)) breakAt(event.seq, event.eventId, 'invoice_mismatch');
  }
}
