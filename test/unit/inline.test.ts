// The parameters of a one-message read are written into its text only where the scan is sure of what it
// reads; anything else is left to the ordinary, parameterised path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inlineParameters } from '../../src/store/inline.js';

describe('inlineParameters', () => {
  it('writes each placeholder as a quoted literal and leaves quoted text alone', () => {
    expect(
      inlineParameters(`select "a$1" from "t" where "x" = $1 and "y" = '$2' and "z" = $2`, ["it's", 5]),
    ).toBe(`select "a$1" from "t" where "x" = 'it''s' and "y" = '$2' and "z" = '5'`);
    expect(inlineParameters('select $1, $2, $3', [null, undefined, false])).toBe(
      "select NULL, NULL, 'false'",
    );
    expect(inlineParameters('select $1', ['back\\slash'])).toBe("select  E'back\\\\slash'");
    expect(inlineParameters('select $1', [[1, 2]])).toBe(`select '{"1","2"}'`);
  });

  it('gives up on what it does not read for certain', () => {
    for (const sql of [
      'select 1 -- $1',
      'select /* $1 */ 1',
      'select 1; select $1',
      "select E'\\'$1'",
      'select $$ $1 $$',
      'select $tag$ x $tag$',
      "select 'unterminated",
      'select $2',
      'select $0',
    ]) {
      expect(inlineParameters(sql, [1]), sql).toBeNull();
    }
    expect(inlineParameters('select $1', [Buffer.from('x')])).toBeNull();
    expect(inlineParameters('select $1', ['nul\0'])).toBeNull();
  });

  it('keeps any string whole inside one literal', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: fc.constantFrom("'", '\\', '$', '"', ';', '-', '/', '*', '\0', 'a', 'é') }),
        ),
        (text) => {
          const out = inlineParameters('select $1', [text]);
          if (text.includes('\0')) return out === null;
          // The literal is the whole rest of the text: one quoted string, nothing after it (in an E'' string
          // a backslash escapes the next character).
          const plain = /^select '(?:[^']|'')*'$/s.test(out ?? '');
          const escaped = /^select {2}E'(?:[^'\\]|''|\\.)*'$/s.test(out ?? '');
          expect(plain || escaped, out ?? 'null').toBe(true);
          return true;
        },
      ),
    );
  });
});
