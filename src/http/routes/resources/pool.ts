import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { appendAudit } from '../../../audit/log.js';
import { operatorOnly, operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import { quotaNames } from '../../../domain/quotas.js';
import { tenantLimitNames } from '../../../services/tenant-limits.js';
import { lockPoolQuotas, savePoolQuotas } from '../../../store/repositories/pools.js';
import { TenantDomainParams } from '../../schemas.js';
import { Quotas } from './schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { itemRoutes } from '../item.js';

/** A domain's share of each server (see docs/operating.md, "Fair sharing"). */
const Limits = Type.Object({
  requestsPerSecond: Type.Integer({
    minimum: 0,
    maximum: 1_000_000,
    description: 'Sustained requests per second on each server; 0: no rate limit.',
  }),
  requestBurst: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    description: 'Requests allowed at once above the rate.',
  }),
  concurrentRequests: Type.Integer({
    minimum: 0,
    maximum: 100_000,
    description: 'Requests answered at the same time on each server; 0: no limit.',
  }),
});

const PoolView = Type.Object({ quotas: Quotas, limits: Limits });

export const pool: RouteModule = (app, { provisioner, domains, store, tenantLimits }) => {
  const currentPool = async (request: FastifyRequest) => {
    await domains.get(scopeOf(request));
    return {
      quotas: await provisioner.quotas(scopeOf(request)),
      limits: await tenantLimits.limitsOf(scopeOf(request)),
    };
  };

  itemRoutes(app, '/v1/domains/:domainId/pool', TenantDomainParams, PoolView, currentPool).show(
    operatorOrOwnDomain(unscoped("the domain's quotas: numbers, no resource and no secret")),
    { operationId: 'getPool', summary: "A domain's quotas and its share of each server" },
  );

  app.put(
    '/v1/domains/:domainId/pool',
    {
      config: { access: operatorOnly, current: currentPool },
      schema: {
        operationId: 'updatePool',
        summary: "Set a domain's quotas and limits",
        description:
          'Only the quotas and limits named change; the rest keep their current values. A limit change ' +
          'applies on the server that took it at once, on the others within 5 seconds.',
        params: TenantDomainParams,
        body: Type.Object(
          {
            quotas: Type.Optional(Type.Partial(Quotas, { additionalProperties: false })),
            limits: Type.Optional(Type.Partial(Limits, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
        response: { 200: PoolView },
      },
    },
    async (request) => {
      const domainId = scopeOf(request);
      await domains.get(domainId);
      await store.withDomain(domainId, async (tx) => {
        const next: Record<string, number> = { ...(await lockPoolQuotas(tx, domainId)) };
        for (const name of quotaNames) {
          const value = request.body.quotas?.[name];
          if (value !== undefined) next[name] = value;
        }
        for (const name of tenantLimitNames) {
          const value = request.body.limits?.[name];
          if (value !== undefined) next[name] = value;
        }
        await savePoolQuotas(tx, domainId, next);
        await appendAudit(tx, {
          ...actorOf(request),
          domainId,
          action: 'pool.update',
          target: domainId,
          outcome: 'success',
          detail: { quotas: request.body.quotas ?? {}, limits: request.body.limits ?? {} },
        });
      });
      tenantLimits.forget(domainId);
      return { quotas: await provisioner.quotas(domainId), limits: await tenantLimits.limitsOf(domainId) };
    },
  );
};
