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
          "This server's metrics in Prometheus' text format: requests by route template, method and status; " +
          'authentication by credential kind and outcome; provider calls by resource kind; audit writes; the ' +
          "revocation feed's lag; grant uses; the process and its event loop; and the isolation runs " +
          '(`BULKHEAD_VERIFY_EVERY`). Counts, times and closed labels only, no tenant data. Bearer: the ' +
          'operator token, or `BULKHEAD_METRICS_TOKEN`, which reads this and nothing else.',
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) =>
      reply.type(isolationMetrics.registry.contentType).send(await isolationMetrics.registry.metrics()),
  );
};
