import { Type } from '@sinclair/typebox';
import { timestampOf } from '../../../domain/timestamp.js';
import { listAudit } from '../../../audit/log.js';
import { operatorOnly } from '../../../policy/policy.js';
import { DomainIdParam, Timestamp } from '../../schemas.js';
import { Page, pageQueryOf, storedPage } from '../../paging.js';
import { AuditEvent } from './schemas.js';
import type { RouteModule } from '../../types.js';

export const listAuditEvents: RouteModule = (app, { store, cursorKey }) => {
  app.get(
    '/v1/audit',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listAudit',
        summary: 'Read the audit log',
        description:
          'Oldest first (by `seq`). Filter by domain, action and time; paged with `limit` and `cursor` ' +
          '(the `next` of the previous page, sent with the same filters).',
        querystring: Type.Object(
          {
            domainId: Type.Optional(DomainIdParam),
            action: Type.Optional(Type.String({ pattern: '^[a-z_]+\\.[a-z_]+$', maxLength: 64 })),
            since: Type.Optional(Timestamp),
            until: Type.Optional(Timestamp),
            ...pageQueryOf({ pageSize: 100, maxPageSize: 1000 }),
            after: Type.Optional(
              Type.Integer({
                minimum: 0,
                deprecated: true,
                description: 'Deprecated: send `cursor`. The events after this sequence number.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(AuditEvent) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      return storedPage(cursorKey, request, reply, {
        limit: q.limit ?? 100,
        from: q.after === undefined ? undefined : String(q.after),
        fetch: (after, limit) =>
          store.system('operator', (tx) =>
            listAudit(tx, {
              domainId: q.domainId,
              action: q.action,
              since: q.since === undefined ? undefined : timestampOf(q.since),
              until: q.until === undefined ? undefined : timestampOf(q.until),
              after: after === null ? undefined : Number(after),
              limit,
            }),
          ),
        positionOf: (event) => String(event.seq),
      });
    },
  );
};
