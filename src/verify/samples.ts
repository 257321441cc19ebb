// Values the prober puts into requests: minimal valid bodies and parameters built from the schemas
// (ids from the domain under attack for id-like fields, const/enum/default/example otherwise), ids
// that name nothing, and filled-in body templates. Nothing here sends anything.
import { randomUUID } from 'node:crypto';
import type { Schema } from './openapi.js';

export interface SampleContext {
  readonly resolve: (schema: unknown) => Schema;
  /** Values for id-like fields by name; a string whose pattern matches one of them takes it too. */
  readonly ids: Readonly<Record<string, string>>;
  /** A fresh value on every call, so that repeated creates do not collide on unique names. */
  readonly unique: () => string;
  /** The time future dates are counted from, fixed per run so that two bodies of a pair are equal. */
  readonly now?: number;
}

function regExp(pattern: unknown): RegExp | null {
  if (typeof pattern !== 'string') return null;
  for (const flags of ['u', '']) {
    try {
      return new RegExp(pattern, flags);
    } catch {
      // The document's dialect may differ from JavaScript's; try without the unicode flag, then give up.
    }
  }
  return null;
}

function fits(schema: Schema, value: string): boolean {
  const re = regExp(schema['pattern']);
  if (re !== null && !re.test(value)) return false;
  if (typeof schema['minLength'] === 'number' && value.length < schema['minLength']) return false;
  if (typeof schema['maxLength'] === 'number' && value.length > schema['maxLength']) return false;
  return true;
}

function types(schema: Schema): string[] {
  const t = schema['type'];
  if (typeof t === 'string') return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === 'string');
  return [];
}

function firstExample(schema: Schema): unknown {
  if (Array.isArray(schema['examples']) && schema['examples'].length > 0) return schema['examples'][0];
  return schema['example'];
}

/** An id of the attacked domain that the string schema accepts: by field name first, then by pattern. */
function idFor(schema: Schema, ctx: SampleContext, name: string | undefined): string | undefined {
  if (name !== undefined && ctx.ids[name] !== undefined) return ctx.ids[name];
  const re = regExp(schema['pattern']);
  // Only a pattern that tells ids from plain words (e.g. `^ins_[0-9a-z]{26}$`) marks an id-like field.
  if (re === null || re.test('bulkhead-verify-probe')) return undefined;
  return Object.values(ctx.ids).find((v) => re.test(v));
}

function sampleString(schema: Schema, ctx: SampleContext, name: string | undefined): string {
  const id = idFor(schema, ctx, name);
  if (id !== undefined) return id;
  const example = firstExample(schema);
  switch (schema['format']) {
    case 'date-time':
      return new Date((ctx.now ?? Date.now()) + 3_600_000).toISOString();
    case 'date':
      return new Date((ctx.now ?? Date.now()) + 86_400_000).toISOString().slice(0, 10);
    case 'email':
      return `${ctx.unique()}@example.com`;
    case 'uuid':
      return randomUUID();
    case 'uri':
    case 'url':
      return 'https://example.com/bulkhead-verify';
  }
  const candidates = [ctx.unique(), 'verify', 'a', '0'];
  if (typeof example === 'string') candidates.unshift(`${example}-${ctx.unique()}`, example);
  return candidates.find((c) => fits(schema, c)) ?? candidates[0]!;
}

function sampleNumber(schema: Schema, integer: boolean): number {
  const example = firstExample(schema);
  if (typeof example === 'number') return example;
  let low = typeof schema['minimum'] === 'number' ? schema['minimum'] : 1;
  if (typeof schema['exclusiveMinimum'] === 'number') low = Math.max(low, schema['exclusiveMinimum'] + 1);
  if (typeof schema['maximum'] === 'number') low = Math.min(low, schema['maximum']);
  return integer ? Math.ceil(low) : low;
}

/**
 * A minimal value the schema accepts: required properties only, the fewest array items allowed.
 *
 * @example
 * sampleValue({ type: 'object', required: ['instanceId'], properties: { instanceId: { type: 'string' } } },
 *   { resolve: (s) => s as Schema, ids: { instanceId: 'ins_1' }, unique: () => 'v1' });
 * // → { instanceId: 'ins_1' }
 */
export function sampleValue(raw: unknown, ctx: SampleContext, name?: string, depth = 0): unknown {
  const schema = ctx.resolve(raw);
  if (depth > 12) return null;
  if ('const' in schema) return schema['const'];
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0];
  if (schema['default'] !== undefined) return schema['default'];
  for (const key of ['oneOf', 'anyOf'] as const) {
    const options: unknown = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      const list = options as unknown[];
      const chosen = list.find((o) => !types(ctx.resolve(o)).includes('null')) ?? list[0];
      return sampleValue(chosen, ctx, name, depth + 1);
    }
  }
  if (Array.isArray(schema['allOf'])) {
    const parts = schema['allOf'].map((p) => ctx.resolve(p));
    const merged: Record<string, unknown> = { type: 'object', properties: {}, required: [] };
    for (const part of [schema, ...parts]) {
      Object.assign(merged['properties'] as object, part['properties']);
      const required: unknown = part['required'];
      if (Array.isArray(required)) (merged['required'] as unknown[]).push(...(required as unknown[]));
      for (const [k, v] of Object.entries(part))
        if (!['allOf', 'properties', 'required'].includes(k) && merged[k] === undefined) merged[k] = v;
    }
    return sampleValue(merged, ctx, name, depth + 1);
  }
  const t =
    types(schema).find((x) => x !== 'null') ?? (schema['properties'] !== undefined ? 'object' : 'string');
  switch (t) {
    case 'object': {
      const properties = (schema['properties'] ?? {}) as Record<string, unknown>;
      const required = Array.isArray(schema['required']) ? schema['required'] : [];
      const out: Record<string, unknown> = {};
      for (const key of required) {
        if (typeof key === 'string') out[key] = sampleValue(properties[key] ?? {}, ctx, key, depth + 1);
      }
      return out;
    }
    case 'array': {
      const count = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0;
      return Array.from({ length: count }, () => sampleValue(schema['items'] ?? {}, ctx, name, depth + 1));
    }
    case 'integer':
      return sampleNumber(schema, true);
    case 'number':
      return sampleNumber(schema, false);
    case 'boolean':
      return false;
    default:
      return sampleString(schema, ctx, name);
  }
}

/**
 * An id of the same shape that names nothing: the prefix (letters then `_` or `-`) kept, every letter
 * and digit after it replaced by `0`.
 *
 * @example
 * unknownId('dom_01m854xqz6rckrbf1etbvsvtsh'); // → 'dom_00000000000000000000000000'
 */
export function unknownId(value: string): string {
  const match = /^([A-Za-z]+[_-])(.*)$/s.exec(value);
  const prefix = match?.[1] ?? '';
  const zeroed = prefix + (match?.[2] ?? value).replace(/[A-Za-z0-9]/g, '0');
  return zeroed === value ? prefix + (match?.[2] ?? value).replace(/[A-Za-z0-9]/g, '1') : zeroed;
}

/**
 * Replaces `{{name}}` in every string of a template with `vars[name]`; `{{unique}}` with a fresh value.
 *
 * @example
 * fillTemplate({ instanceId: '{{instanceId}}' }, { instanceId: 'ins_1' }, () => 'v1');
 */
export function fillTemplate(
  template: unknown,
  vars: Readonly<Record<string, string>>,
  unique: () => string,
): unknown {
  if (typeof template === 'string')
    return template.replace(/\{\{([^}]+)\}\}/g, (whole, name: string) =>
      name === 'unique' ? unique() : (vars[name] ?? whole),
    );
  if (Array.isArray(template)) return template.map((v) => fillTemplate(v, vars, unique));
  if (typeof template === 'object' && template !== null)
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, vars, unique)]));
  return template;
}
