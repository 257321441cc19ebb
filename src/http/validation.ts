// The validators of every route's body, query, path and headers. Beyond each route's own schema, two
// rules hold for every field of every operation, so no route can forget them: no text reaches the store
// that PostgreSQL cannot hold (NUL) or that is not well-formed Unicode (a lone surrogate, which the
// driver would silently replace), and no number is beyond what JavaScript and a bigint column both
// hold exactly (±2^53−1). `date-time` is read by the one strict reader in src/domain/timestamp.ts.
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readTimestamp } from '../domain/timestamp.js';
import { Problem } from './schemas.js';

/** The keywords of the errors the rules below add to Ajv's own (mapped to codes in problem.ts). */
export const storableTextKeyword = 'storableText';
export const safeIntegerKeyword = 'safeInteger';

interface GuardError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message: string;
}

// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const pointer = (path: string, key: string) => `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;

/** The first value in `data` that breaks a rule, or null; walks arrays and objects, keys included. */
function firstBreach(data: unknown, path: string, depth = 0): GuardError | null {
  if (typeof data === 'string') {
    return unstorable.test(data)
      ? {
          keyword: storableTextKeyword,
          instancePath: path,
          schemaPath: '#',
          params: {},
          message: 'holds a NUL or a lone surrogate, which cannot be stored.',
        }
      : null;
  }
  if (typeof data === 'number') {
    return Number.isFinite(data) && Math.abs(data) <= Number.MAX_SAFE_INTEGER
      ? null
      : {
          keyword: safeIntegerKeyword,
          instancePath: path,
          schemaPath: '#',
          params: { limit: Number.MAX_SAFE_INTEGER },
          message: `must be between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}.`,
        };
  }
  // The body limit bounds the depth of anything parsed; this bounds the walk whatever the parser.
  if (typeof data !== 'object' || data === null || depth > 64) return null;
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      const breach = firstBreach(data[i], `${path}/${i}`, depth + 1);
      if (breach !== null) return breach;
    }
    return null;
  }
  for (const [key, value] of Object.entries(data)) {
    const at = pointer(path, key);
    const breach = firstBreach(key, at, depth + 1) ?? firstBreach(value, at, depth + 1);
    if (breach !== null) return breach;
  }
  return null;
}

/**
 * The route's schema first (its errors are the most specific), then the rules that hold everywhere, on
 * the value as the schema left it (query text coerced to numbers, defaults filled in).
 */
function guarded(validate: ValidateFunction): ValidateFunction {
  const check = ((data: unknown) => {
    if (!validate(data)) {
      check.errors = validate.errors ?? null;
      return false;
    }
    const breach = firstBreach(data, '');
    check.errors = breach === null ? null : [breach];
    return breach === null;
  }) as ValidateFunction;
  return check;
}

/**
 * Two Ajv instances: bodies are never coerced or trimmed of unknown fields (a wrong type or an extra
 * field is a 400); query strings, paths and headers arrive as text, so only they are coerced.
 */
export function validators() {
  // `verbose` keeps the refused value on each error, so a refused date-time can say why it was refused.
  const common = {
    allErrors: true,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
    verbose: true,
  } as const;
  const body = new Ajv({ ...common, coerceTypes: false });
  const text = new Ajv({ ...common, coerceTypes: 'array' });
  for (const ajv of [body, text]) {
    addFormats.default(ajv);
    ajv.addFormat('date-time', { type: 'string', validate: (value) => readTimestamp(value).ok });
    ajv.addSchema(Problem, 'Problem');
  }
  return {
    compile: (schema: object, part: string | undefined) =>
      guarded(onFirstUse(() => (part === 'body' ? body : text).compile(schema))),
  };
}

/**
 * A route's validator compiled when its route is first called rather than when the server starts: Ajv
 * compiling every route's schemas was a third of a server's start-up (about 0.8 s of CPU), paid again by
 * every CLI command and process that builds the app, for routes most of them never call. The schemas
 * are still compiled, and refused if wrong, by the tests that call every route.
 */
function onFirstUse(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | null = null;
  const validate = ((data: unknown) => {
    compiled ??= compile();
    const ok = compiled(data);
    validate.errors = compiled.errors ?? null;
    return ok;
  }) as ValidateFunction;
  return validate;
}
