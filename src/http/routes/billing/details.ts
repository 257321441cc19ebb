// A domain's billing details (name and address on its invoices): read by any credential of the domain (a
// key scoped `billing:read`), set by the operator or a key of the domain scoped `billing:write`.
import { domainBilling } from '../../../policy/policy.js';
import { TenantDomainParams } from '../../schemas.js';
import type { RouteModule } from '../../types.js';
import { actorOf, scopeOf } from '../actor.js';
import { BillingDetails, BillingDetailsInput } from './schemas.js';

export const detailsRoutes: RouteModule = (app, { billing }) => {
  app.get(
    '/v1/domains/:domainId/billing',
    {
      config: { access: domainBilling('billing', 'read'), etag: true },
      schema: {
        operationId: 'getBillingDetails',
        summary: "A domain's billing details",
        description: 'The name and address its invoices are made out to; 404 until they are set.',
        params: TenantDomainParams,
        response: { 200: BillingDetails },
      },
    },
    async (request) => billing.details(scopeOf(request)),
  );

  app.put(
    '/v1/domains/:domainId/billing',
    {
      config: {
        access: domainBilling('billing', 'write'),
        current: (request) => billing.details(scopeOf(request)),
      },
      schema: {
        operationId: 'setBillingDetails',
        summary: "Set a domain's billing details",
        description:
          'Replaces them all: name, address lines, city, postal code, country (ISO 3166-1 alpha-2), ' +
          'email and an optional tax id. Invoices are rendered with the details of the moment.',
        params: TenantDomainParams,
        body: BillingDetailsInput,
        response: { 200: BillingDetails },
      },
    },
    async (request) => billing.setDetails(actorOf(request), scopeOf(request), request.body),
  );
};
