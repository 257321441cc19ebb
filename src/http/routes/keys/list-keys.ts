import { operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import { DomainParams } from '../../schemas.js';
import { Page, PageQuery, pageOf } from '../../paging.js';
import { Key } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';

export const listKeys: RouteModule = (app, { keys, cursorKey }) => {
  app.get(
    '/v1/domains/:domainId/keys',
    {
      config: {
        access: operatorOrOwnDomain(
          unscoped(
            "the domain's keys: ids, prefixes, scopes and times, never a secret; a key finds its own id here",
          ),
        ),
      },
      schema: {
        operationId: 'listKeys',
        summary: "List a domain's provisioning keys",
        description:
          'Ids, prefixes, scopes and times; never the secrets. A key may list its own domain’s keys.',
        params: DomainParams,
        querystring: PageQuery,
        response: { 200: Page(Key) },
      },
    },
    async (request, reply) => pageOf(cursorKey, request, reply, await keys.list(scopeOf(request))),
  );
};
