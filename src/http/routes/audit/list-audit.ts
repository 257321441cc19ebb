import { Type } from '@sinclair/typebox';
import { timestampOf } from '../../../domain/timestamp.js';
import { listAudit } from '../../../audit/log.js';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam, Timestamp } from '../../schemas.js';
import { AuditEvent } from './schemas.js';
import type { RouteModule } from '../../types.js';

export const listAuditEvents: RouteModule = (app, { store }) => {
  app.get(
    '/v1/audit',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listAudit',
        summary: 'Read the audit log',
        description:
          'Oldest first. Filter by domain, action and time; page with `after` (a sequence number).',
        querystring: Type.Object(
          {
            domainId: Type.Optional(DomainIdParam),
            action: Type.Optional(Type.String({ pattern: '^[a-z_]+\\.[a-z_]+$', maxLength: 64 })),
            since: Type.Optional(Timestamp),
            until: Type.Optional(Timestamp),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AuditEvent) }) },
      },
    },
    async (request) => {
      const q = request.query;
      const items = await store.system('operator', (tx) =>
        listAudit(tx, {
          domainId: q.domainId,
          action: q.action,
          since: q.since === undefined ? undefined : timestampOf(q.since),
          until: q.until === undefined ? undefined : timestampOf(q.until),
          after: q.after,
          limit: q.limit,
        }),
      );
      return { items };
    },
  );
};
