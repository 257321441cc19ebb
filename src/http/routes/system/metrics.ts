import { Type } from '@sinclair/typebox';
import { metricsReader } from '../../../policy/policy.js';
import type { RouteModule } from '../../types.js';

export const metrics: RouteModule = (app, { isolationMetrics }) => {
  app.get(
    '/metrics',
    {
      config: { access: metricsReader },
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description:
          'The isolation runs of this server (`BULKHEAD_VERIFY_EVERY`): runs and checks by verdict, and the ' +
          "last run's time, duration, leaks and operations not exercised, in Prometheus' text format. " +
          'Counts and verdicts only, no tenant data. Bearer: the operator token, or `BULKHEAD_METRICS_TOKEN`, ' +
          'which reads this and nothing else.',
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) =>
      reply.type(isolationMetrics.registry.contentType).send(await isolationMetrics.registry.metrics()),
  );
};
