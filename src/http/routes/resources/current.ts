// The resource a change's preconditions (If-Match, If-Unmodified-Since) are checked against: read in the
// request's domain as the change itself may read it, so a key not scoped for the change is refused the
// same way before and after the precondition.
import type { FastifyRequest } from 'fastify';
import { kindCheck, type ScopeAction } from '../../../policy/scopes.js';
import type { Provisioner } from '../../../provisioner/provisioner.js';
import { paramOf, scopeOf } from '../actor.js';

/** The `current` of a change to the resource in the path, for a key that needs `action` on its kind. */
export function currentResource(provisioner: Provisioner, action: ScopeAction) {
  return (request: FastifyRequest) =>
    provisioner.get(scopeOf(request), paramOf(request, 'resourceId'), kindCheck(request.principal, action));
}
