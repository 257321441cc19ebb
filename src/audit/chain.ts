// Each audit event carries the hash of the one before it in its chain, so editing, deleting or reordering
// any stored event breaks its chain from that point on. The hash covers every field, including `seq` and
// the domain (which names the chain). Until migration 0018 there was one chain, numbered without gaps;
// since then each domain has its own, and the events of no domain one more.
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

/**
 * The canonical body of an event split around its sequence number: the body is
 * `prefix + String(seq) + suffix`. The store appends an event in one statement by joining the parts to
 * the seq and hash it reads from the chain's head, so the hash is computed from exactly these parts.
 */
export function bodyAroundSeq(event: Omit<AuditEvent, 'hash' | 'prevHash' | 'seq'>): {
  prefix: string;
  suffix: string;
} {
  const fields: Record<string, unknown> = {
    seq: 0,
    id: event.id,
    at: event.at,
    domainId: event.domainId,
    actor: event.actor,
    action: event.action,
    target: event.target,
    outcome: event.outcome,
    requestId: event.requestId,
    detail: event.detail,
  };
  // Exactly `canonical(fields)`, with the place of the seq's value left open.
  const entries = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const at = entries.findIndex(([k]) => k === 'seq');
  const render = ([k, v]: [string, unknown]) => `${JSON.stringify(k)}:${canonical(v)}`;
  const before = entries.slice(0, at).map(render);
  const after = entries.slice(at + 1).map(render);
  return {
    prefix: `{${[...before, ''].join(',')}"seq":`,
    suffix: `${after.map((part) => `,${part}`).join('')}}`,
  };
}

export function eventHash(event: Omit<AuditEvent, 'hash'>): string {
  const { prefix, suffix } = bodyAroundSeq(event);
  return createHash('sha256')
    .update(`${event.prevHash}\n${prefix}${String(event.seq)}${suffix}`, 'utf8')
    .digest('hex');
}

export type ChainBreak =
  | 'sequence_gap'
  | 'prev_hash_mismatch'
  | 'hash_mismatch'
  | 'head_mismatch'
  /** A closed invoice no longer says what its `invoice.close` event recorded, or has no such event. */
  | 'invoice_mismatch';

export interface ChainReport {
  readonly ok: boolean;
  /** Events checked (before the first break, if any). */
  readonly checked: number;
  /** The newest event checked, in `seq` order, and its hash. */
  readonly headSeq: number;
  readonly headHash: string;
  /** The first broken link, when there is one. */
  readonly broken?: { readonly seq: number; readonly eventId: string | null; readonly reason: ChainBreak };
}

/** A point of a chain: the seq and hash of its newest event (or where it started). */
export interface ChainLink {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Checks events of the single chain from before migration 0018, given in `seq` order and numbered
 * without gaps, continuing from `previous`; returns the break, if any.
 */
export function checkLink(event: AuditEvent, previous: ChainLink): ChainBreak | null {
  if (event.seq !== previous.seq + 1) return 'sequence_gap';
  return checkChainLink(event, previous);
}

/**
 * Checks the next event of one chain (a domain's, or the events of no domain) against the newest one
 * before it in that chain. The global `seq` has gaps where a transaction rolled back, so a missing event
 * shows as the next one's `prev_hash_mismatch`, or as its chain's `head_mismatch` when it was the newest.
 */
export function checkChainLink(event: AuditEvent, previous: ChainLink): ChainBreak | null {
  if (event.seq <= previous.seq) return 'sequence_gap';
  if (event.prevHash !== previous.hash) return 'prev_hash_mismatch';
  if (eventHash(event) !== event.hash) return 'hash_mismatch';
  return null;
}
