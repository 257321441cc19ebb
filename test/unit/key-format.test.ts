import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkKeyShape, generateKey, keyDisplayPrefix, keyLength } from '../../src/keys/format.js';
import { keyedHash, sameHash } from '../../src/keys/hash.js';

const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('provisioning key format', () => {
  it('generates recognisable keys that pass their own checksum', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = generateKey();
      expect(key).toMatch(/^bhk_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/);
      expect(key).toHaveLength(keyLength);
      expect(checkKeyShape(key)).toBeNull();
      keys.add(key);
    }
    expect(keys.size).toBe(200);
  });

  it('names what is wrong with a malformed key', () => {
    const key = generateKey();
    expect(checkKeyShape(`bhx_${key.slice(4)}`)).toBe('prefix');
    expect(checkKeyShape('')).toBe('prefix');
    expect(checkKeyShape(key.slice(0, -1))).toBe('length');
    expect(checkKeyShape(`${key}A`)).toBe('length');
    expect(checkKeyShape(`${key.slice(0, 10)}!${key.slice(11)}`)).toBe('charset');
    expect(checkKeyShape(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBe('checksum');
  });

  it('rejects every single-character typo by its checksum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: keyLength - 1 }), fc.constantFrom(...base62), (at, ch) => {
        const key = generateKey();
        if (key[at] === ch || key[at] === '_') return;
        const typo = key.slice(0, at) + ch + key.slice(at + 1);
        expect(checkKeyShape(typo)).toBe('checksum');
      }),
      { numRuns: 1000 },
    );
  });

  it('shows only a short prefix', () => {
    const key = generateKey();
    expect(keyDisplayPrefix(key)).toBe(key.slice(0, 12));
  });

  it('hashes under the server secret and compares in constant time', () => {
    const key = generateKey();
    const a = keyedHash(Buffer.alloc(32, 1), key);
    const b = keyedHash(Buffer.alloc(32, 2), key);
    expect(a).not.toBe(b);
    expect(sameHash(a, keyedHash(Buffer.alloc(32, 1), key))).toBe(true);
    expect(sameHash(a, b)).toBe(false);
    expect(sameHash(a, '')).toBe(false);
    expect(sameHash('', '')).toBe(false);
  });
});
