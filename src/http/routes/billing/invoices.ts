// A domain's invoices: read by any credential of the domain (a key scoped `invoices:read`); their status
// changed by the operator alone. Another domain's invoice answers exactly like one that does not exist.
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { domainBilling, operatorInDomain } from '../../../policy/policy.js';
import { TenantDomainParams } from '../../schemas.js';
import { Page, storedPage } from '../../paging.js';
import type { RouteModule } from '../../types.js';
import { actorOf, paramOf, scopeOf } from '../actor.js';
import { itemRoutes } from '../item.js';
import { Invoice, InvoiceListQuery, InvoiceParams, InvoiceSummary, PayInput } from './schemas.js';

export const invoiceRoutes: RouteModule = (app, { billing, cursorKey }) => {
  const currentInvoice = (request: FastifyRequest) =>
    billing.invoice(scopeOf(request), paramOf(request, 'invoiceId'));

  app.get(
    '/v1/domains/:domainId/invoices',
    {
      config: { access: domainBilling('invoices', 'read') },
      schema: {
        operationId: 'listInvoices',
        summary: "List a domain's invoices",
        description:
          'Newest first (by `number`), without lines; paged with `limit` and `cursor` (the `next` of the ' +
          'previous page).',
        params: TenantDomainParams,
        querystring: InvoiceListQuery,
        response: { 200: Page(InvoiceSummary) },
      },
    },
    async (request, reply) =>
      storedPage(cursorKey, request, reply, {
        limit: request.query.limit ?? 20,
        from: request.query.before === undefined ? undefined : String(request.query.before),
        fetch: (before, limit) =>
          billing.invoices(scopeOf(request), {
            limit,
            beforeNumber: before === null ? undefined : Number(before),
          }),
        positionOf: (invoice) => String(invoice.number),
      }),
  );

  itemRoutes(app, '/v1/domains/:domainId/invoices/:invoiceId', InvoiceParams, Invoice, currentInvoice).show(
    domainBilling('invoices', 'read'),
    { operationId: 'getInvoice', summary: 'Show an invoice with its lines' },
  );

  app.get(
    '/v1/domains/:domainId/invoices/:invoiceId.pdf',
    {
      config: { access: domainBilling('invoices', 'read') },
      schema: {
        operationId: 'getInvoicePdf',
        summary: 'An invoice as a PDF',
        description:
          "The platform's name, the domain's billing details as they are now, the invoice's number, " +
          'period, issue date, lines, totals and status.',
        params: InvoiceParams,
        response: {
          200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'application/pdf' }),
        },
      },
    },
    async (request, reply) => {
      const pdf = await billing.invoicePdf(scopeOf(request), request.params.invoiceId);
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="${request.params.invoiceId}.pdf"`)
        .header('cache-control', 'private, no-store')
        .send(pdf);
    },
  );

  app.post(
    '/v1/domains/:domainId/invoices/:invoiceId/pay',
    {
      config: { access: operatorInDomain, current: currentInvoice },
      schema: {
        operationId: 'payInvoice',
        summary: 'Mark an invoice paid',
        description: 'From `open` or `uncollectible`; otherwise 409 `invoice_status`.',
        params: InvoiceParams,
        body: PayInput,
        response: { 200: InvoiceSummary },
      },
    },
    async (request) =>
      billing.setStatus(
        actorOf(request),
        scopeOf(request),
        request.params.invoiceId,
        'paid',
        request.body.reference,
      ),
  );

  for (const [action, status, summary] of [
    ['void', 'void', 'Void an invoice'],
    ['uncollectible', 'uncollectible', 'Mark an invoice uncollectible'],
  ] as const) {
    app.post(
      `/v1/domains/:domainId/invoices/:invoiceId/${action}`,
      {
        config: { access: operatorInDomain, current: currentInvoice },
        schema: {
          operationId: `${action}Invoice`,
          summary,
          description:
            status === 'void'
              ? 'From `open` or `uncollectible`; otherwise 409 `invoice_status`.'
              : 'From `open`; otherwise 409 `invoice_status`.',
          params: InvoiceParams,
          response: { 200: InvoiceSummary },
        },
      },
      async (request) =>
        billing.setStatus(actorOf(request), scopeOf(request), request.params.invoiceId, status, null),
    );
  }
};
