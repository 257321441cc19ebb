import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { Domain } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf } from '../actor.js';

export const createDomain: RouteModule = (app, { domains }) => {
  app.post(
    '/v1/domains',
    {
      config: { access: operatorOnly, idempotent: true },
      schema: {
        operationId: 'createDomain',
        summary: 'Create a domain',
        description: 'The slug is normalised (NFKC, lowercase) before it is checked and compared.',
        body: Type.Object(
          {
            slug: Type.String({ minLength: 1, maxLength: 253, examples: ['acme'] }),
            name: Type.String({
              minLength: 1,
              maxLength: 200,
              pattern: '^[^\\u0000-\\u001f\\u007f]*$',
              examples: ['Acme Inc'],
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Domain },
      },
    },
    async (request, reply) => {
      const domain = await domains.create(actorOf(request), request.body);
      return reply.code(201).header('location', `/v1/domains/${domain.id}`).send(domain);
    },
  );
};
