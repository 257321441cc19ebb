import type { FastifyRequest } from 'fastify';
import { notFound } from '../../errors.js';
import type { Actor } from '../../policy/principal.js';

/** Who is acting, for the audit log: from the resolved principal, never from the request body. */
export function actorOf(request: FastifyRequest): Actor {
  return { actor: request.principal?.actor ?? 'anonymous', requestId: String(request.id) };
}

/** The domain the request works in, as the policy decided it from the credential. */
export function scopeOf(request: FastifyRequest): string {
  if (request.domainScope === null) throw notFound();
  return request.domainScope;
}

/** A path parameter the route's schema has already checked is a string. */
export function paramOf(request: FastifyRequest, name: string): string {
  const value = (request.params as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string') throw notFound();
  return value;
}

/** The item of `items` with `id`, as its list shows it; none is the same 404 as an unknown id. */
export function itemOf<T extends { readonly id: string }>(items: readonly T[], id: string): T {
  const item = items.find((i) => i.id === id);
  if (item === undefined) throw notFound();
  return item;
}
