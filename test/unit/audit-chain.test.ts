import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyAroundSeq, eventHash } from '../../src/audit/chain.js';

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
