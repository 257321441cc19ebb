// Each audit event carries the hash of the one before it, so editing, deleting or reordering any
// stored event breaks the chain from that point on. The hash covers every field, including `seq`.
import { createHash } from 'node:crypto';
import type { AuditEvent } from './events.js';

export const genesisHash = '0'.repeat(64);

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function eventHash(event: Omit<AuditEvent, 'hash'>): string {
  const body = canonical({
    seq: event.seq,
    id: event.id,
    at: event.at,
    domainId: event.domainId,
    actor: event.actor,
    action: event.action,
    target: event.target,
    outcome: event.outcome,
    requestId: event.requestId,
    detail: event.detail,
  });
  return createHash('sha256').update(`${event.prevHash}\n${body}`, 'utf8').digest('hex');
}

export type ChainBreak = 'sequence_gap' | 'prev_hash_mismatch' | 'hash_mismatch' | 'head_mismatch';

export interface ChainReport {
  readonly ok: boolean;
  readonly checked: number;
  readonly headSeq: number;
  readonly headHash: string;
  /** The first broken link, when there is one. */
  readonly broken?: { readonly seq: number; readonly eventId: string | null; readonly reason: ChainBreak };
}

/** Checks events given in `seq` order, continuing from `state`; returns the break, if any. */
export function checkLink(event: AuditEvent, previous: { seq: number; hash: string }): ChainBreak | null {
  if (event.seq !== previous.seq + 1) return 'sequence_gap';
  if (event.prevHash !== previous.hash) return 'prev_hash_mismatch';
  if (eventHash(event) !== event.hash) return 'hash_mismatch';
  return null;
}
