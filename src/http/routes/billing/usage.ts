// A domain's usage: recorded by the operator or by a key of the domain scoped `usage:write`, read by any
// credential of the domain (a key scoped `usage:read`). The domain is the credential's, never the body's.
import { domainBilling } from '../../../policy/policy.js';
import { TenantDomainParams } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { scopeOf } from '../actor.js';
import { UsageBuckets, UsageInput, UsageQuery, UsageRecord } from './schemas.js';

export const usageRoutes: RouteModule = (app, { billing }) => {
  app.post(
    '/v1/domains/:domainId/usage',
    {
      config: { access: domainBilling('usage', 'write'), idempotent: true },
      schema: {
        operationId: 'recordUsage',
        summary: 'Record usage of a meter',
        description:
          'Counted once per event id: a retry answers 200 with `recorded: false`; the same id with other ' +
          'usage is 409 `idempotency_conflict`. The meter must be in the price book (`unknown_meter`); a ' +
          'period whose invoice is written takes no more usage (409 `period_closed`).',
        params: TenantDomainParams,
        body: UsageInput,
        response: { 200: UsageRecord, 201: UsageRecord },
      },
    },
    async (request, reply) => {
      const record = await billing.recordUsage(scopeOf(request), request.body);
      return reply.code(record.recorded ? 201 : 200).send(record);
    },
  );

  app.get(
    '/v1/domains/:domainId/usage',
    {
      config: { access: domainBilling('usage', 'read') },
      schema: {
        operationId: 'listUsage',
        summary: "A domain's usage per day and meter",
        description: 'Sums over [from, to) per UTC day and meter, at most 10,000 buckets.',
        params: TenantDomainParams,
        querystring: UsageQuery,
        response: { 200: UsageBuckets },
      },
    },
    async (request) => ({ items: await billing.usage(scopeOf(request), request.query) }),
  );
};
