import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam } from '../../schemas.js';
import { Domain, DomainStatus } from './schemas.js';
import type { RouteModule } from '../../types.js';

export const listDomains: RouteModule = (app, { domains }) => {
  app.get(
    '/v1/domains',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listDomains',
        summary: 'List domains',
        description:
          'Deleted domains are left out unless `status=deleted` or `includeDeleted=true`. Page with `after`.',
        querystring: Type.Object(
          {
            status: Type.Optional(DomainStatus),
            slug: Type.Optional(
              Type.String({ minLength: 1, maxLength: 253, description: 'Normalised before matching.' }),
            ),
            includeDeleted: Type.Optional(Type.Boolean()),
            after: Type.Optional(DomainIdParam),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Domain) }) },
      },
    },
    async (request) => ({ items: await domains.list(request.query) }),
  );
};
