// The canonical spelling of sign-in names: every spelling of one account gives one key, the canonical
// form is its own canonical form, and nothing that could break a store lookup gets through.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { BulkheadError } from '../../src/errors.js';
import {
  canonicalClientId,
  canonicalDomainRef,
  canonicalEmail,
  userAccountKey,
} from '../../src/identity/names.js';

const fullWidth = (s: string) =>
  [...s].map((c) => (c > ' ' && c <= '~' ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('');
const blanks = fc.constantFrom('', ' ', '\t', '\u3000', '\u00a0', ' \n');
const asciiEmail = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,20}$/),
    fc.stringMatching(/^[a-z0-9-]{1,20}\.[a-z]{2,6}$/),
  )
  .map(([local, host]) => `${local}@${host}`);
/** A way of writing a name that a person or an attacker might send for the same account. */
const respelling = fc.tuple(blanks, blanks, fc.boolean(), fc.boolean()).map(
  ([before, after, upper, wide]) =>
    (s: string) =>
      `${before}${wide ? fullWidth(upper ? s.toUpperCase() : s) : upper ? s.toUpperCase() : s}${after}`,
);

describe('canonical sign-in names', () => {
  it('gives every spelling of an email, and of its domain, the one account key', () => {
    const domainId = newId('domain');
    fc.assert(
      fc.property(asciiEmail, respelling, respelling, (email, spellEmail, spellDomain) => {
        const canonical = canonicalEmail(spellEmail(email));
        expect(canonical).toBe(email);
        expect(canonicalEmail(canonical)).toBe(canonical);
        expect(canonicalDomainRef(spellDomain(domainId))).toEqual({ id: domainId });
        expect(userAccountKey(domainId, canonicalDomainRef(spellDomain('acme')), canonical)).toBe(
          userAccountKey(domainId, canonicalDomainRef(domainId), canonicalEmail(email)),
        );
      }),
    );
  });

  it('is its own canonical form for any text it accepts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        let once: string;
        try {
          once = canonicalEmail(text);
        } catch (error) {
          expect(error).toBeInstanceOf(BulkheadError);
          return;
        }
        expect(canonicalEmail(once)).toBe(once);
      }),
    );
  });

  it.each([
    ['a NUL', 'a\u0000b'],
    ['a line break inside', 'a\nb@example.com'],
    ['a lone surrogate', 'a\ud800@example.com'],
    ['nothing but blanks', ' \t\u3000'],
    ['more than 320 characters once normalised', '\ufdfa'.repeat(20)],
  ])('refuses %s', (_name, text) => {
    expect(() => canonicalEmail(text)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    expect(() => canonicalDomainRef(text)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    expect(() => canonicalClientId(text)).toThrow(expect.objectContaining({ code: 'invalid_client' }));
  });

  it('names a domain by a slug in the form slugs are compared everywhere', () => {
    expect(canonicalDomainRef(' ＡＣＭＥ')).toEqual({ slug: 'acme' });
    expect(canonicalDomainRef('Acme-2')).toEqual({ slug: 'acme-2' });
  });
});
