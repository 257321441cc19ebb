import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseSlug, parseSlug, reservedSlugs } from '../../src/domain/slug.js';
import { BulkheadError, type ErrorCode } from '../../src/errors.js';

function codeOf(fn: () => unknown): ErrorCode | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof BulkheadError) return error.code;
    throw error;
  }
}

describe('parseSlug', () => {
  it('normalises case and compatibility forms before checking', () => {
    expect(parseSlug('Acme')).toBe('acme');
    expect(parseSlug('ＡＣＭＥ')).toBe('acme'); // fullwidth letters fold to ASCII under NFKC
    expect(parseSlug('  acme-2  ')).toBe('acme-2');
  });

  it.each([
    ['аcme', 'slug_confusable'], // Cyrillic а
    ['acmе', 'slug_confusable'], // Cyrillic е
    ['αcme', 'slug_confusable'], // Greek alpha
    ['xn--80ak6aa92e', 'slug_confusable'], // a punycode label
    ['ac', 'slug_length'],
    ['a'.repeat(64), 'slug_length'],
    ['-acme', 'invalid_slug'],
    ['acme-', 'invalid_slug'],
    ['ac_me', 'invalid_slug'],
    ['ac me', 'invalid_slug'],
    ['ac.me', 'invalid_slug'],
    ['ac\u200bme', 'invalid_slug'], // zero-width space
    ['acme😀', 'invalid_slug'],
    ['日本語ドメイン', 'invalid_slug'],
    ['admin', 'slug_reserved'],
    ['WWW', 'slug_reserved'],
    ['', 'slug_length'],
  ] as const)('refuses %j with %s', (input, code) => {
    expect(codeOf(() => parseSlug(input))).toBe(code);
  });

  it('accepts 3 and 63 characters', () => {
    expect(parseSlug('abc')).toBe('abc');
    expect(parseSlug('a'.repeat(63))).toBe('a'.repeat(63));
  });

  it('reserves every name on its list', () => {
    for (const slug of reservedSlugs) expect(codeOf(() => parseSlug(slug))).toBe('slug_reserved');
  });

  it('only ever returns a DNS label in normal form, or refuses with a slug code', () => {
    const label = /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/;
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 70 }), (input) => {
        const code = codeOf(() => parseSlug(input));
        if (code === null) {
          const slug = parseSlug(input);
          expect(slug).toMatch(label);
          expect(normaliseSlug(slug)).toBe(slug);
        } else {
          expect(['invalid_slug', 'slug_length', 'slug_reserved', 'slug_confusable']).toContain(code);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
