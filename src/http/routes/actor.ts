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
