import { Type } from '@sinclair/typebox';
import { verifyAudit } from '../../../audit/log.js';
import { operatorOnly } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';

export const verifyAuditChain: RouteModule = (app, { store }) => {
  app.get(
    '/v1/audit/verify',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'verifyAudit',
        summary: 'Check the audit hash chain',
        description: 'Walks every event and names the first broken link, if any.',
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            checked: Type.Integer(),
            headSeq: Type.Integer(),
            headHash: Type.String(),
            broken: Type.Optional(
              Type.Object({
                seq: Type.Integer(),
                eventId: Type.Union([Type.String(), Type.Null()]),
                reason: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    () => store.system('audit', verifyAudit),
  );
};
