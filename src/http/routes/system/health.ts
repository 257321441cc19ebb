import { Type } from '@sinclair/typebox';
import { BulkheadError } from '../../../errors.js';
import { publicAccess } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';

const Status = Type.Object({ status: Type.String() });

export const health: RouteModule = (app, { store }) => {
  app.get(
    '/healthz',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'healthz',
        summary: 'The process is alive',
        response: { 200: Status },
      },
    },
    () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'readyz',
        summary: 'The store answers',
        response: { 200: Status },
      },
    },
    async () => {
      try {
        await store.ping();
      } catch (error) {
        throw new BulkheadError('unavailable', 'The store does not answer.', { cause: error });
      }
      return { status: 'ready' };
    },
  );
};
