import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../policy/principal.js';

/** Who is acting, for the audit log: from the resolved principal, never from the request body. */
export function actorOf(request: FastifyRequest): Actor {
  return { actor: request.principal?.actor ?? 'anonymous', requestId: String(request.id) };
}
