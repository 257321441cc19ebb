import { Type } from '@sinclair/typebox';
import { BulkheadError } from '../../../errors.js';
import { publicAccess } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';

const Status = Type.Object({ status: Type.String() });

export const health: RouteModule = (app, { store }) => {
  // The two probes differ only in what they check before they answer.
  const probes = [
    {
      url: '/healthz',
      operationId: 'healthz',
      summary: 'The process is alive',
      answer: () => ({ status: 'ok' }),
    },
    {
      url: '/readyz',
      operationId: 'readyz',
      summary: 'The store answers',
      answer: async () => {
        try {
          await store.ping();
        } catch (error) {
          throw new BulkheadError('unavailable', 'The store does not answer.', { cause: error });
        }
        return { status: 'ready' };
      },
    },
  ];
  for (const probe of probes)
    app.get(
      probe.url,
      {
        config: { access: publicAccess },
        schema: { operationId: probe.operationId, summary: probe.summary, response: { 200: Status } },
      },
      probe.answer,
    );
};
