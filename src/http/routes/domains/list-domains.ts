import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { idSchemaPattern } from '../../../domain/ids.js';
import { Page, pageQueryOf, storedPage } from '../../paging.js';
import { Domain, DomainStatus } from './schemas.js';
import type { RouteModule } from '../../types.js';

export const listDomains: RouteModule = (app, { domains, cursorKey }) => {
  app.get(
    '/v1/domains',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listDomains',
        summary: 'List domains',
        description:
          'In id order. Deleted domains are left out unless `status=deleted` or `includeDeleted=true`. ' +
          'Paged with `limit` and `cursor` (the `next` of the previous page).',
        querystring: Type.Object(
          {
            status: Type.Optional(DomainStatus),
            slug: Type.Optional(
              Type.String({ minLength: 1, maxLength: 253, description: 'Normalised before matching.' }),
            ),
            includeDeleted: Type.Optional(Type.Boolean()),
            ...pageQueryOf({ pageSize: 100, maxPageSize: 500 }),
            after: Type.Optional(
              Type.String({
                pattern: idSchemaPattern('domain'),
                deprecated: true,
                description: 'Deprecated: send `cursor`. The page after this domain id.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Domain) },
      },
    },
    async (request, reply) => {
      const { cursor: _cursor, after, limit, ...filter } = request.query;
      return storedPage(cursorKey, request, reply, {
        limit: limit ?? 100,
        from: after,
        fetch: (position, pageLimit) =>
          domains.list({ ...filter, after: position ?? undefined, limit: pageLimit }),
        positionOf: (domain) => domain.id,
      });
    },
  );
};
