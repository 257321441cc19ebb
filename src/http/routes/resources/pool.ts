import { Type } from '@sinclair/typebox';
import { appendAudit } from '../../../audit/log.js';
import { operatorOnly, operatorOrOwnDomain } from '../../../policy/policy.js';
import { unscoped } from '../../../policy/scopes.js';
import { quotaNames } from '../../../provisioner/quotas.js';
import { bearer, DomainParams, errorResponses, Quotas } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';

export const pool: RouteModule = (app, { provisioner, domains, store }) => {
  app.get(
    '/v1/domains/:domainId/pool',
    {
      config: {
        access: operatorOrOwnDomain(unscoped("the domain's quotas: numbers, no resource and no secret")),
      },
      schema: {
        operationId: 'getPool',
        tags: ['resources'],
        summary: "A domain's quotas",
        security: bearer,
        params: DomainParams,
        response: { 200: Type.Object({ quotas: Quotas }), ...errorResponses },
      },
    },
    async (request) => {
      await domains.get(scopeOf(request));
      return { quotas: await provisioner.quotas(scopeOf(request)) };
    },
  );

  app.put(
    '/v1/domains/:domainId/pool',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'updatePool',
        tags: ['resources'],
        summary: "Set a domain's quotas",
        description: 'Only the quotas named change; the rest keep their current values.',
        security: bearer,
        params: DomainParams,
        body: Type.Object(
          { quotas: Type.Partial(Quotas, { additionalProperties: false }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ quotas: Quotas }), ...errorResponses },
      },
    },
    async (request) => {
      const domainId = scopeOf(request);
      await domains.get(domainId);
      await store.withDomain(domainId, async (tx) => {
        const current = await tx
          .selectFrom('pools')
          .select('quotas')
          .where('domain_id', '=', domainId)
          .forUpdate()
          .executeTakeFirst();
        const next: Record<string, number> = { ...(current?.quotas ?? {}) };
        for (const name of quotaNames) {
          const value = request.body.quotas[name];
          if (value !== undefined) next[name] = value;
        }
        await tx
          .insertInto('pools')
          .values({ domain_id: domainId, quotas: JSON.stringify(next), updated_at: new Date() })
          .onConflict((oc) =>
            oc.column('domain_id').doUpdateSet({ quotas: JSON.stringify(next), updated_at: new Date() }),
          )
          .execute();
        await appendAudit(tx, {
          ...actorOf(request),
          domainId,
          action: 'pool.update',
          target: domainId,
          outcome: 'success',
          detail: { quotas: request.body.quotas },
        });
      });
      return { quotas: await provisioner.quotas(domainId) };
    },
  );
};
