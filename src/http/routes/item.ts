// The routes of one item that is changed under If-Match (plugins/preconditions.ts): its address, its path
// parameters, its schema and `current`, what it is now, are declared once. Its GET answers `current` with
// the ETag, and each change names the same `current`, so the ETag a client read is the one its If-Match
// is compared with; a change answers the item as it is after.
import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyRequest, FastifySchema } from 'fastify';
import type { Access } from '../../policy/policy.js';
import type { App } from '../types.js';

/** What the document says of one route of the item. */
export interface ItemOperation {
  readonly operationId: string;
  readonly tags?: string[];
  readonly summary: string;
  readonly description?: string;
}

export interface ItemRoutes<Item extends TSchema> {
  /** The item's GET, with its ETag. */
  show(access: Access, operation: ItemOperation): void;
  /** A change of the item at its address, or at `suffix` below it (`/attach`). */
  change(
    method: 'POST' | 'PUT' | 'DELETE',
    access: Access,
    operation: ItemOperation,
    handler: (request: FastifyRequest) => Promise<Static<Item>>,
    suffix?: string,
  ): void;
}

export function itemRoutes<Item extends TSchema>(
  app: App,
  url: string,
  params: TSchema,
  item: Item,
  current: (request: FastifyRequest) => Promise<Static<Item>>,
): ItemRoutes<Item> {
  // The answer's type is checked where `current` and each handler are given: as Static<Item>.
  const schema = (operation: ItemOperation): FastifySchema => ({
    ...operation,
    params,
    response: { 200: item },
  });
  return {
    show(access, operation) {
      app.get(url, { config: { access, etag: true }, schema: schema(operation) }, current);
    },
    change(method, access, operation, handler, suffix = '') {
      app.route({
        method,
        url: url + suffix,
        config: { access, current },
        schema: schema(operation),
        handler,
      });
    },
  };
}
