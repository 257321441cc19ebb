import { operatorOnly } from '../../../policy/policy.js';
import { DomainParams } from '../../schemas.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const resumeDomain: RouteModule = (app, { domains }) => {
  app.post(
    '/v1/domains/:domainId/resume',
    {
      config: { access: operatorOnly, current: (request) => domains.get(scopeOf(request)) },
      schema: {
        operationId: 'resumeDomain',
        summary: 'Resume a domain',
        params: DomainParams,
        response: { 200: Domain },
      },
    },
    async (request) => domains.resume(actorOf(request), scopeOf(request)),
  );
};
