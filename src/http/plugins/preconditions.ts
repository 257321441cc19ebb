// Conditional requests (RFC 9110 §13) on every item a route shows alone: its answer carries a strong `ETag`
// (a hash of the item's canonical JSON view, so it changes whenever anything stored of it that the view
// shows does), `If-None-Match` on its GET answers 304, and a change or delete sent with `If-Match` is
// refused with 412 `precondition_failed` before anything is done when the item is not the one the client
// saw. The item is read through the route's own loader after the policy has run, in the credential's
// domain: another domain's item is the same 404 as an unknown id, whatever the header says.
// The check and the change are one step: the changes of one item run one at a time on this server, each
// checking again once it is its turn, and on PostgreSQL the change's first transaction takes a lock on the
// item that every change of it takes and checks again with it held (src/store/item-guard.ts), so two
// changes sent with the same ETag make one change and one 412, on one server or several.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BulkheadError } from '../../errors.js';
import { underGuard } from '../../store/item-guard.js';
import { errorResponses } from '../schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The GET of one item: its 200 carries the item's ETag, and a matching If-None-Match answers 304. */
    etag?: true;
    /**
     * A change or delete of one item: reads the item as its GET shows it (throwing `not_found` when there
     * is none in the request's domain), so that If-Match is checked before the handler runs.
     */
    current?: (request: FastifyRequest) => Promise<unknown>;
  }
}

/** JSON with the keys of every object sorted, so one state has one spelling. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** The strong entity tag of an item's view. */
export function etagOf(view: unknown): string {
  // Through JSON first, so a Date and its ISO string (what the client saw) have the same tag.
  const plain: unknown = JSON.parse(JSON.stringify(view ?? null));
  return `"${createHash('sha256').update(canonicalJson(plain)).digest('base64url')}"`;
}

interface EntityTag {
  readonly weak: boolean;
  readonly tag: string;
}

const listItem = /^\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*$/;

/** `*`, or the entity tags of an If-Match / If-None-Match header; a malformed header is 400. */
export function parseEntityTags(header: string | string[]): '*' | EntityTag[] {
  const value = [header].flat().join(',');
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  for (const part of value.split(',')) {
    const match = listItem.exec(part);
    if (match === null) {
      throw new BulkheadError(
        'invalid_precondition',
        'A precondition header is `*` or a comma-separated list of entity tags such as `"abc"`.',
      );
    }
    tags.push({ weak: match[1] !== undefined, tag: match[2]! });
  }
  return tags;
}

// Checked by parseEntityTags (400 `invalid_precondition`), not by a pattern here, so a bad one has its own code.
const entityTagList = { type: 'string', maxLength: 4096 } as const;

interface ObjectSchema {
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The route's header schema with `extra` added to what it declares. */
function withHeaders(headers: unknown, extra: Record<string, unknown>): ObjectSchema {
  const current = (headers ?? { type: 'object' }) as ObjectSchema;
  return { ...current, type: 'object', properties: { ...(current.properties ?? {}), ...extra } };
}

/** Refuses the request with 412 when its If-Match names none of the item's current ETag. */
async function checkIfMatch(request: FastifyRequest): Promise<void> {
  const current = request.routeOptions.config.current;
  const header = request.headers['if-match'];
  if (current === undefined || header === undefined) return;
  const tags = parseEntityTags(header);
  const item = await current(request);
  if (tags === '*') return;
  const etag = etagOf(item);
  // If-Match compares strongly: a weak tag never matches (RFC 9110 §13.1.1).
  if (!tags.some((t) => !t.weak && t.tag === etag)) {
    throw new BulkheadError('precondition_failed', 'The item has changed since the ETag given was read.', {
      hint: 'Read the item again and retry with its new ETag.',
    });
  }
}

/** Runs `fn` once every earlier call for `key` has finished. */
async function inTurn<T>(turns: Map<string, Promise<void>>, key: string, fn: () => Promise<T>): Promise<T> {
  const before = turns.get(key) ?? Promise.resolve();
  let done = () => {};
  const mine = new Promise<void>((resolve) => (done = resolve));
  const last = before.then(() => mine);
  turns.set(key, last);
  try {
    await before;
    return await fn();
  } finally {
    done();
    if (turns.get(key) === last) turns.delete(key);
  }
}

export const preconditions = fp(
  (app, _options, done) => {
    app.addHook('onRoute', (route) => {
      const schema = route.schema;
      if (schema === undefined || route.method === 'HEAD') return;
      const config = route.config ?? {};
      if (config.etag === true) {
        schema.headers = withHeaders(schema.headers, {
          'if-none-match': {
            ...entityTagList,
            description: 'The item’s ETag as last seen: 304 with no body while it is still that item.',
          },
        });
        const response = (schema.response ?? {}) as Record<string, unknown>;
        const ok = response['200'] as Record<string, unknown> | undefined;
        schema.response = {
          ...response,
          ...(ok === undefined
            ? {}
            : {
                200: {
                  ...ok,
                  headers: {
                    etag: {
                      type: 'string',
                      description:
                        'A strong validator of the item: send it back in If-Match or If-None-Match.',
                    },
                  },
                },
              }),
          // RFC 9110 §15.4.5: a 304 carries the ETag a 200 would have.
          304: {
            description: 'The item still has the ETag given in If-None-Match.',
            type: 'null',
            headers: { etag: { type: 'string', description: 'The item’s ETag, as its 200 would send.' } },
          },
        };
      }
      if (config.current !== undefined) {
        schema.headers = withHeaders(schema.headers, {
          'if-match': {
            ...entityTagList,
            description:
              'The item’s ETag (from its GET), or `*` for any existing item: the change is made only if the ' +
              'item still has it, otherwise 412 `precondition_failed` and nothing is changed.',
          },
        });
        schema.response = {
          ...(schema.response as object | undefined),
          412: {
            ...errorResponses['4xx'],
            description: 'The item no longer has the ETag given in If-Match.',
          },
        };
      }
    });

    // A refusal before anything else runs (the Idempotency-Key claim among it). After the policy's
    // preHandler (this plugin is registered after it), so the request's domain is set.
    app.addHook('preHandler', checkIfMatch);

    // Each change of an item waits for the one before it on this server, then checks again: the first
    // check may have passed before another change of the item was made.
    const turns = new Map<string, Promise<void>>();
    app.addHook('onRoute', (route) => {
      if (route.config?.current === undefined) return;
      const handler = route.handler as (
        this: unknown,
        request: FastifyRequest,
        reply: FastifyReply,
      ) => Promise<unknown>;
      route.handler = async function (this: unknown, request: FastifyRequest, reply: FastifyReply) {
        const key = `${request.domainScope ?? ''} ${canonicalJson(request.params ?? null)}`;
        return inTurn(turns, key, async () => {
          await checkIfMatch(request);
          const guard = { key: `item ${key}`, check: () => checkIfMatch(request) };
          return underGuard(guard, () => handler.call(this, request, reply));
        });
      };
    });

    app.addHook('preSerialization', async (request, reply, payload) => {
      if (request.routeOptions.config.etag !== true || reply.statusCode !== 200) return payload;
      const etag = etagOf(payload);
      const header = request.headers['if-none-match'];
      // Read before the tag is set: a malformed If-None-Match is a 400, which carries no item's tag.
      const tags = header === undefined ? [] : parseEntityTags(header);
      reply.header('etag', etag);
      // If-None-Match compares weakly: W/"x" and "x" are the same tag here.
      if (tags === '*' || tags.some((t) => t.tag === etag)) reply.code(304);
      return payload;
    });
    done();
  },
  { name: 'bulkhead-preconditions' },
);
