// Writes a compiled query's parameters into its text, so that the query can travel in one simple-protocol
// message together with the statements that scope it (node-postgres cannot pipeline, and the extended
// protocol takes one statement per message). Each value becomes exactly the text node-postgres would have
// sent as an untyped parameter, written as a quoted literal: a quoted literal is of unknown type, like an
// untyped parameter, so the server resolves its type from the context the same way.
//
// The scan is deliberately narrow. It knows the text Kysely compiles (quoted identifiers, standard string
// literals, `$n` placeholders) and gives up, returning null, on anything else (comments, E'' strings,
// dollar quoting, binary values), so the caller takes the ordinary path instead of guessing.
import pg from 'pg';
import utils from 'pg/lib/utils.js';

const { prepareValue } = utils;

/** The literal for one parameter, or null when it cannot be written as text. */
function literal(value: unknown): string | null {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Uint8Array) return null; // sent in binary by node-postgres
  const text = prepareValue(value);
  if (text === null) return 'NULL';
  if (typeof text !== 'string') return null;
  if (text.includes('\0')) return null; // no text value holds NUL; let the server refuse it as usual
  return pg.escapeLiteral(text);
}

/** The literals of `parameters`, in order, or null when one of them cannot be written as text. */
export function parameterLiterals(parameters: readonly unknown[]): string[] | null {
  const literals: string[] = [];
  for (const value of parameters) {
    const text = literal(value);
    if (text === null) return null;
    literals.push(text);
  }
  return literals;
}

/**
 * `sql` with `$1`…`$n` replaced by the literals of `parameters`, or null when the text holds anything but
 * quoted identifiers, standard string literals and placeholders, or a parameter cannot be written as text.
 */
export function inlineParameters(sql: string, parameters: readonly unknown[]): string | null {
  const literals = parameterLiterals(parameters);
  return literals === null ? null : inlineLiterals(sql, literals);
}

/** `sql` with `$1`…`$n` replaced by `literals` (from `parameterLiterals`), or null as `inlineParameters`. */
export function inlineLiterals(sql: string, literals: readonly string[]): string | null {
  const pieces = piecesOf(sql);
  if (pieces === null) return null;
  let out = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') out += piece;
    else if (piece > literals.length) return null;
    else out += literals[piece - 1]!;
  }
  return out;
}

// The pieces of each text read so far (a hot read sends the same few texts again and again), bounded.
const textPieces = new Map<string, readonly (string | number)[] | null>();

/** `sql` as its text between placeholders and the placeholders' numbers, or null as `inlineParameters`. */
function piecesOf(sql: string): readonly (string | number)[] | null {
  let pieces = textPieces.get(sql);
  if (pieces === undefined) {
    pieces = splitPlaceholders(sql);
    if (textPieces.size >= 4096) textPieces.clear();
    textPieces.set(sql, pieces);
  }
  return pieces;
}

function splitPlaceholders(sql: string): (string | number)[] | null {
  const pieces: (string | number)[] = [];
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      // A quoted literal or identifier, copied whole; a doubled quote is an escaped one.
      // E'…', B'…' and X'…' read their text differently: left to the ordinary path.
      if (c === "'" && i > 0 && /\w/.test(sql[i - 1]!)) return null;
      let j = i + 1;
      for (;;) {
        const close = sql.indexOf(c, j);
        if (close < 0) return null;
        if (sql[close + 1] === c) {
          j = close + 2;
          continue;
        }
        j = close + 1;
        break;
      }
      out += sql.slice(i, j);
      i = j;
    } else if (c === '$') {
      const digits = /^\$(\d+)/.exec(sql.slice(i, i + 12));
      if (digits === null) return null; // dollar quoting
      const n = Number(digits[1]);
      if (n < 1) return null;
      pieces.push(out, n);
      out = '';
      i += digits[0].length;
    } else if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '*') || c === ';') {
      return null; // a comment, or a second statement
    } else {
      out += c;
      i++;
    }
  }
  pieces.push(out);
  return pieces;
}
