// Cursor paging for the lists of a domain's things (docs/api.md, "Paging"): `limit` (default 100, at most
// 500) and an opaque `cursor`; an answer carries `next` (or null) and a `Link: <…>; rel="next"` header.
// Items come oldest first by (createdAt, id), a stable order. A cursor names the route and the domain the
// list was read in and is signed with a key derived from the server secret: an altered cursor, or one
// from another list or domain, is 400 `invalid_cursor`, so it can only ever move within its own list.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BulkheadError } from '../errors.js';

export const defaultPageSize = 100;
export const maxPageSize = 500;

/** The query parameters of a paged list. */
export const pageQuery = {
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: maxPageSize,
      default: defaultPageSize,
      description: `Items per page: ${defaultPageSize} unless given, at most ${maxPageSize}.`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_-]{1,400}\\.[A-Za-z0-9_-]{22}$',
      description: 'The `next` of the previous page, as given; an altered one is 400 `invalid_cursor`.',
    }),
  ),
};

export const PageQuery = Type.Object(pageQuery, { additionalProperties: false });

/** A page of `item`: the items, and the cursor of the next page (null on the last). */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    next: Type.Union([Type.String(), Type.Null()], {
      description: 'Send as `cursor` for the next page; null on the last page.',
    }),
  });

interface Pageable {
  readonly id: string;
  readonly createdAt: Date | string;
}

const sortKey = (item: Pageable) =>
  `${typeof item.createdAt === 'string' ? new Date(item.createdAt).toISOString() : item.createdAt.toISOString()} ${item.id}`;

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest().subarray(0, 16).toString('base64url');
}

/** Where a cursor was given out: the route and the domain the list was read in. */
function placeOf(request: FastifyRequest): string {
  return `${request.routeOptions.url ?? ''} ${request.domainScope ?? ''}`;
}

/** The position a cursor names, after checking it was given out by this list in this domain. */
export function readCursor(key: Buffer, request: FastifyRequest, cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  const refused = () => new BulkheadError('invalid_cursor', 'This cursor was not given out by this list.');
  const [body, mac] = cursor.split('.');
  if (body === undefined || mac === undefined) throw refused();
  const expected = Buffer.from(sign(key, body));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw refused();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw refused();
  }
  const { p, k } = (parsed ?? {}) as { p?: unknown; k?: unknown };
  if (p !== placeOf(request) || typeof k !== 'string') throw refused();
  return k;
}

/** A cursor for the position after `last`, in this list and domain. */
export function makeCursor(key: Buffer, request: FastifyRequest, position: string): string {
  const body = Buffer.from(JSON.stringify({ p: placeOf(request), k: position })).toString('base64url');
  return `${body}.${sign(key, body)}`;
}

/** Sets `Link: <…>; rel="next"` for the page after this one: the request's own URL with the new cursor. */
export function linkNext(request: FastifyRequest, reply: FastifyReply, next: string | null): void {
  if (next === null) return;
  const url = new URL(request.url, 'http://bulkhead.invalid');
  url.searchParams.set('cursor', next);
  reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
}

/**
 * One page of `items` (all of a domain's, read in its scope) for the request's `limit` and `cursor`,
 * oldest first, with the Link header of the next page set.
 */
export function pageOf<T extends Pageable>(
  key: Buffer,
  request: FastifyRequest<{ Querystring: { limit?: number; cursor?: string } }>,
  reply: FastifyReply,
  items: readonly T[],
): { items: T[]; next: string | null } {
  const after = readCursor(key, request, request.query.cursor);
  const limit = request.query.limit ?? defaultPageSize;
  const sorted = items
    .map((item) => [sortKey(item), item] as const)
    .filter(([k]) => after === null || k > after)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const page = sorted.slice(0, limit);
  const next = sorted.length > limit ? makeCursor(key, request, page[page.length - 1]![0]) : null;
  linkNext(request, reply, next);
  return { items: page.map(([, item]) => item), next };
}

/**
 * The query parameters of a paged list with its own page sizes (the lists that paged before cursors did
 * keep theirs, so no client's `limit` turns into a 400).
 */
export function pageQueryOf(sizes: { readonly pageSize: number; readonly maxPageSize: number }) {
  return {
    ...pageQuery,
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: sizes.maxPageSize,
        default: sizes.pageSize,
        description: `Items per page: ${sizes.pageSize} unless given, at most ${sizes.maxPageSize}.`,
      }),
    ),
  };
}

/**
 * One page of a list the store pages itself, in its own order: `fetch` reads up to `limit` items after the
 * position (null: from the start; `from`: an old position parameter, when no cursor is given), and
 * `positionOf` names an item's place for the next page's cursor. Sets the Link header of the next page.
 */
export async function storedPage<T>(
  key: Buffer,
  request: FastifyRequest<{ Querystring: { limit?: number; cursor?: string } }>,
  reply: FastifyReply,
  options: {
    readonly limit: number;
    readonly from?: string | undefined;
    readonly fetch: (after: string | null, limit: number) => Promise<readonly T[]>;
    readonly positionOf: (item: T) => string;
  },
): Promise<{ items: T[]; next: string | null }> {
  const after = readCursor(key, request, request.query.cursor) ?? options.from ?? null;
  const rows = await options.fetch(after, options.limit + 1);
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  const next =
    rows.length > options.limit && last !== undefined
      ? makeCursor(key, request, options.positionOf(last))
      : null;
  linkNext(request, reply, next);
  return { items: page, next };
}
