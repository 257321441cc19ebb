import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyAroundSeq, checkChainLink, checkLink, eventHash } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/events.js';

// The canonical form written out independently: keys sorted, undefined members left out.
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

const text = fc.string({ unit: 'binary', maxLength: 40 });
const event = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  id: text,
  at: text,
  domainId: fc.option(text),
  actor: text,
  action: text,
  target: fc.option(text),
  outcome: text,
  requestId: fc.option(text),
  // Detail may carry keys named like the top-level ones, and strings that look like them.
  detail: fc.dictionary(
    fc.oneof(fc.constantFrom('seq', 'target', 'prevHash', '"seq":1'), text),
    fc.jsonValue({ maxDepth: 2 }),
  ),
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
});

describe('the audit hash', () => {
  it('is the hash of the previous hash and the canonical body, whatever the fields hold', () => {
    fc.assert(
      fc.property(event, (e) => {
        const { prevHash, ...rest } = e;
        const body = reference(rest);
        const expected = createHash('sha256').update(`${prevHash}\n${body}`, 'utf8').digest('hex');
        expect(eventHash(e)).toBe(expected);
        const { prefix, suffix } = bodyAroundSeq(e);
        expect(`${prefix}${String(e.seq)}${suffix}`).toBe(body);
      }),
      { numRuns: 500 },
    );
  });
});

describe('a chain link', () => {
  const sealed = (e: Omit<AuditEvent, 'hash'>): AuditEvent => ({ ...e, hash: eventHash(e) });

  it('holds for the next event of a chain, whatever gap the global seq has, and breaks on any change', () => {
    fc.assert(
      fc.property(event, fc.integer({ min: 1, max: 1000 }), (generated, gap) => {
        // Room above the seq for the next ones, within the integers a number holds exactly.
        const e = { ...generated, seq: Math.min(generated.seq, 2 ** 50) };
        const previous = { seq: e.seq, hash: eventHash(e) };
        const next = sealed({ ...e, id: `${e.id}-next`, seq: e.seq + gap, prevHash: previous.hash });
        expect(checkChainLink(next, previous)).toBeNull();
        // The single chain from before the cutover takes no gap.
        expect(checkLink(next, previous)).toBe(gap === 1 ? null : 'sequence_gap');
        // An edited field, a moved domain (another chain), a renumbered event: the hash no longer holds.
        expect(checkChainLink({ ...next, actor: `${next.actor}!` }, previous)).toBe('hash_mismatch');
        expect(checkChainLink({ ...next, domainId: `${next.domainId ?? ''}x` }, previous)).toBe(
          'hash_mismatch',
        );
        expect(checkChainLink({ ...next, seq: next.seq + 1 }, previous)).toBe('hash_mismatch');
        // Linked to another event than the newest of its chain (one deleted in between, say).
        expect(checkChainLink(next, { ...previous, hash: 'f'.repeat(64) })).toBe(
          previous.hash === 'f'.repeat(64) ? null : 'prev_hash_mismatch',
        );
        // Not after the newest of its chain.
        expect(checkChainLink(next, { ...previous, seq: next.seq })).toBe('sequence_gap');
      }),
      { numRuns: 300 },
    );
  });
});
