// The domain's records in the portal: its audit trail (an admin's, as the API's `domainAdmin` rule says;
// filtered by action, paged by sequence number, exported as JSON lines or CSV) and its billing (usage as a
// chart per meter and day, invoices with their PDFs, for any person of the domain as `domainBilling`
// says). Every read is in the host's domain: the audit trail through the domain's own door (row-level
// security keeps other domains' events out), the billing through the billing service.
import { Type, type Static } from '@sinclair/typebox';
import { listAudit } from '../../../audit/log.js';
import type { AuditEvent } from '../../../audit/events.js';
import { formatMoney } from '../../../billing/pdf.js';
import { BulkheadError } from '../../../errors.js';
import { domainAdmin, domainBilling } from '../../../policy/policy.js';
import { barChart } from '../../../portal/charts.js';
import type { App } from '../../types.js';
import { formToken, renderPage, type Person, type PortalDeps } from './context.js';
import { signedInFor } from './pages.js';

const pageSize = 50;
const exportLimit = 10_000;
const actionPattern = /^[a-z_]+\.[a-z_]+$/;
const invoiceId = /^inv_[0-9a-hjkmnp-tv-z]{26}$/;

const AuditQuery = Type.Object(
  {
    action: Type.Optional(Type.String({ maxLength: 64 })),
    after: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

/** The query string that keeps the filter (`?action=…`), or ''. */
function filterQuery(action: string | undefined): string {
  return action === undefined ? '' : `?${new URLSearchParams({ action }).toString()}`;
}

/** The action filter: empty is none; anything not shaped like an action is a 400. */
function actionOf(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!actionPattern.test(raw))
    throw new BulkheadError('invalid_request', 'An action looks like `principal.create`.');
  return raw;
}

/** The domain's audit events the query selects (its action filter, `after`), at most `limit`. */
async function events(deps: PortalDeps, person: Person, query: Static<typeof AuditQuery>, limit: number) {
  const action = actionOf(query.action);
  const items = await deps.services.store.withDomain(person.domainId, (tx) =>
    listAudit(tx, { domainId: person.domainId, action, after: query.after, limit }),
  );
  return { action, items };
}

/** A CSV field: quoted, with its quotes doubled; a leading formula character is defused. */
function csvField(value: unknown): string {
  let text =
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

const csvColumns = [
  'seq',
  'at',
  'action',
  'outcome',
  'actor',
  'target',
  'requestId',
  'detail',
  'hash',
] as const;

function csvOf(items: readonly AuditEvent[]): string {
  const lines = [csvColumns.join(',')];
  for (const e of items) lines.push(csvColumns.map((c) => csvField(e[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

const days = 30;

export function recordRoutes(app: App, deps: PortalDeps): void {
  const { services } = deps;

  app.get('/audit', { schema: { hide: true, querystring: AuditQuery } }, async (request, reply) => {
    const person = await signedInFor(deps, request, reply, domainAdmin);
    if (person === null) return reply;
    const { action, items } = await events(deps, person, request.query, pageSize + 1);
    const shown = items.slice(0, pageSize);
    const more = items.length > pageSize;
    const next = more
      ? `/audit?${new URLSearchParams({ ...(action === undefined ? {} : { action }), after: String(shown.at(-1)!.seq) }).toString()}`
      : null;
    return renderPage(deps, request, reply, 'audit', {
      title: 'Audit trail',
      person,
      csrf: formToken(deps, person),
      data: { items: shown, action: action ?? '', query: filterQuery(action), next },
    });
  });

  for (const format of ['jsonl', 'csv'] as const) {
    app.get(
      `/audit.${format}`,
      { schema: { hide: true, querystring: AuditQuery } },
      async (request, reply) => {
        const person = await signedInFor(deps, request, reply, domainAdmin);
        if (person === null) return reply;
        const { items } = await events(deps, person, request.query, exportLimit);
        const body = format === 'csv' ? csvOf(items) : items.map((e) => `${JSON.stringify(e)}\n`).join('');
        return reply
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="audit.${format}"`)
          .send(body);
      },
    );
  }

  app.get('/usage', { schema: { hide: true } }, async (request, reply) => {
    const person = await signedInFor(deps, request, reply, domainBilling('usage', 'read'));
    if (person === null) return reply;
    const today = new Date();
    today.setUTCHours(0, 0, 0, 0);
    const from = new Date(today.getTime() - (days - 1) * 86_400_000);
    const to = new Date(today.getTime() + 86_400_000);
    const buckets = await services.billing.usage(person.domainId, {
      from: from.toISOString(),
      to: to.toISOString(),
    });
    const dayList = Array.from({ length: days }, (_, i) =>
      new Date(from.getTime() + i * 86_400_000).toISOString().slice(0, 10),
    );
    const meters = [...new Set(buckets.map((b) => b.meter))].sort();
    const charts = meters.map((meter) => {
      const byDay = new Map(
        buckets.filter((b) => b.meter === meter).map((b) => [b.day.slice(0, 10), b.quantity]),
      );
      const points = dayList.map((day) => ({ day, value: byDay.get(day) ?? 0 }));
      return {
        meter,
        total: points.reduce((s, p) => s + p.value, 0),
        svg: barChart(`${meter} per day, ${dayList[0]} to ${dayList.at(-1)}`, points),
      };
    });
    return renderPage(deps, request, reply, 'usage', {
      title: 'Usage',
      person,
      csrf: formToken(deps, person),
      data: { charts, days },
    });
  });

  app.get('/invoices', { schema: { hide: true } }, async (request, reply) => {
    const person = await signedInFor(deps, request, reply, domainBilling('invoices', 'read'));
    if (person === null) return reply;
    const items = (await services.billing.invoices(person.domainId, { limit: 100 })).map((i) => ({
      ...i,
      amount: formatMoney(i.total, i.currency),
    }));
    return renderPage(deps, request, reply, 'invoices', {
      title: 'Invoices',
      person,
      csrf: formToken(deps, person),
      data: { items },
    });
  });

  app.get(
    '/invoices/:invoiceId.pdf',
    {
      schema: {
        hide: true,
        params: Type.Object({ invoiceId: Type.String({ maxLength: 100 }) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const person = await signedInFor(deps, request, reply, domainBilling('invoices', 'read'));
      if (person === null) return reply;
      if (!invoiceId.test(request.params.invoiceId)) throw new BulkheadError('not_found');
      // The API's PDF route's answer, in the host's domain: another domain's invoice is not found.
      const pdf = await services.billing.invoicePdf(person.domainId, request.params.invoiceId);
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="${request.params.invoiceId}.pdf"`)
        .header('cache-control', 'private, no-store')
        .send(pdf);
    },
  );
}
