// The report as SARIF 2.1.0, the format code-scanning dashboards read (GitHub code scanning, GitLab,
// Azure DevOps, SonarQube): one result per leak, with a rule per attack kind, so a dashboard groups
// leaks by what was not checked. A leak is located in the OpenAPI document, at the line of the
// operation's path when the document's text is at hand, and logically at the operation itself.
// Operations that could not be exercised are tool notifications, not results: they are no finding in
// the API, but the run is incomplete.
import { createHash } from 'node:crypto';
import type { Log, Location, Notification, ReportingDescriptor, Result } from 'sarif';
import { type Check, type VerifyReport } from './report.js';
import { oauthAttacks } from './oauth.js';
import { tokenAttacks } from './tokens.js';

/** The attack kinds, as SARIF rules: what each checks and what a leak means. */
export const attackRules: readonly { id: string; name: string; short: string; full: string }[] = [
  {
    id: 'foreign',
    name: 'ForeignId',
    short: "A's credential reached B's thing",
    full: "Every path parameter carried B's id, with A's credential; the answer must be the one an unknown id gets.",
  },
  {
    id: 'foreign-id',
    name: 'ForeignIdInOwnTenant',
    short: "A's tenant path reached B's item",
    full: "The tenant parameters carried A's id and the item parameters B's; the answer must be the one an unknown id gets.",
  },
  {
    id: 'foreign-tenant',
    name: 'ForeignPublicTenant',
    short: "A's credential was not refused at B's publicly named tenant",
    full:
      "The path names the tenant by a public name (an issuer's slug) and carried B's, with A's credential; A must get " +
      'what no credential gets there (or a 404), never an answer, and nothing of B.',
  },
  {
    id: 'mixed-owner',
    name: 'MixedOwnerPath',
    short: "A's parent with B's child (or the reverse) was accepted",
    full:
      "The path names several items: some carried B's ids and the rest A's. The service must check that each item " +
      "is the caller's and belongs to its parent; the answer must be the one an unknown child gets.",
  },
  {
    id: 'foreign-body',
    name: 'ForeignIdInBody',
    short: "B's id in the body of A's own call was followed",
    full: "A's own path with B's ids in the request body (e.g. linking to B's item); it must answer as for unknown ids.",
  },
  {
    id: 'own',
    name: 'ForeignDataInOwnAnswer',
    short: "A's own call answered something of B",
    full: "An answer to A's own call held one of B's ids, secrets or credentials.",
  },
  {
    id: 'smuggle-query',
    name: 'TenantFromQuery',
    short: 'The tenant was taken from the query',
    full: "B's id in a query parameter (tenantId, domainId …) changed what A's call did or answered.",
  },
  {
    id: 'smuggle-body',
    name: 'TenantFromBody',
    short: 'The tenant was taken from the body',
    full: "B's id in a body field (tenantId, domainId …) changed what A's call did or answered.",
  },
  {
    id: 'smuggle-header',
    name: 'TenantFromHeader',
    short: 'The tenant was taken from a header',
    full: "B's id in a header (X-Tenant-Id, X-Domain-Id) changed what A's call did or answered.",
  },
  {
    id: 'b-state',
    name: 'ForeignStateChanged',
    short: "B's state changed during A's calls",
    full: "One of B's own reads answered differently after A's calls: A changed something of B.",
  },
  {
    id: 'csrf',
    name: 'CrossSiteRequest',
    short: "A change with A's session cookie from another origin was not refused",
    full:
      "A's own state-changing call, with A's session cookie, sent with the Origin of a third site: it must be " +
      'refused (401/403, or as without any credential); a service that takes it lets any site act as A.',
  },
  {
    id: 'cross-host',
    name: 'CookieAcceptedOnAnyHost',
    short: "A's session cookie was accepted at B's host",
    full:
      "A's session cookie, opened at A's own host, replayed at B's host on a page or form (GET and POST): it " +
      'must get exactly what no cookie gets there (the same status and redirect, nothing of A shown, nothing ' +
      'changed); a site that takes it lets a copied cookie cross tenants.',
  },
  // Forged and foreign variants of A's bearer token, one rule per kind (`token[alg-none]` …).
  ...Object.entries(tokenAttacks).map(([kind, full]) => ({
    id: `token[${kind}]`,
    name: `Token${kind.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase())}`,
    short: `A forged or foreign token (${kind}) was not refused like no credential`,
    full: `${full} It must be refused exactly as a call without any credential is.`,
  })),
  // A's tokens and client at B's authorization server, one rule per kind (`oauth[foreign-token]` …).
  ...Object.entries(oauthAttacks).map(([kind, full]) => ({
    id: `oauth[${kind}]`,
    name: `OAuth${kind.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase())}`,
    short: `A's OAuth artefact (${kind}) was not treated at B's issuer as an unknown one`,
    full,
  })),
];

/** The line (1-based) where the document names `path` as a key, or undefined. */
function lineOf(text: string, path: string): number | undefined {
  const at = [`"${path}"`, `'${path}'`, `${path}:`].map((needle) => text.indexOf(needle)).find((i) => i >= 0);
  return at === undefined ? undefined : text.slice(0, at).split('\n').length;
}

/** A stable identity of a finding across runs, so a dashboard tracks it rather than opening a new one. */
function fingerprint(check: Check): string {
  const parts = [check.operation, check.attack, (check.parameters ?? []).join(','), check.credential ?? ''];
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

function location(check: Check, spec: string, specText: string | undefined): Location {
  const path = check.operation.slice(check.operation.indexOf(' ') + 1);
  const line = specText === undefined ? undefined : lineOf(specText, path);
  return {
    physicalLocation: {
      artifactLocation: { uri: spec },
      ...(line === undefined ? {} : { region: { startLine: line } }),
    },
    logicalLocations: [
      {
        name: check.operationId ?? check.operation,
        fullyQualifiedName: check.operation,
        kind: 'function',
      },
    ],
  };
}

/**
 * Renders a report as a SARIF 2.1.0 log. `specText`, the document's text, places each leak at the
 * line of its path; without it a leak names the document only.
 *
 * @example
 * writeFileSync('verify.sarif', toSarif(report, { version: '0.1.0', specText }));
 */
export function toSarif(
  report: VerifyReport,
  options: { version: string; specText?: string | undefined },
): string {
  const kinds = new Set(report.checks.map((c) => c.attack));
  const rules: ReportingDescriptor[] = [
    ...attackRules,
    ...[...kinds]
      .filter((k) => !attackRules.some((r) => r.id === k))
      .map((id) => ({ id, name: id, short: id, full: id })),
  ].map((r) => ({
    id: r.id,
    name: r.name,
    shortDescription: { text: r.short },
    fullDescription: { text: r.full },
    help: { text: 'Bulkhead\'s docs/verify.md, "What it does, per operation", explains the attack.' },
    defaultConfiguration: { level: 'error' },
    properties: { tags: ['security', 'multi-tenancy'] },
  }));
  const results: Result[] = report.checks
    .filter((c) => c.verdict === 'leak')
    .map((c) => ({
      ruleId: c.attack,
      ruleIndex: rules.findIndex((r) => r.id === c.attack),
      level: 'error',
      message: {
        text:
          `${c.operation}: ${c.attack}${c.parameters === undefined ? '' : ` (B's ${c.parameters.join(', ')})`}` +
          `${c.credential === null ? '' : ` with A's ${c.credential}`}: expected ${c.expected}; got ${c.got}`,
      },
      locations: [location(c, report.spec, options.specText)],
      partialFingerprints: { 'bulkheadVerify/v1': fingerprint(c) },
      properties: {
        operation: c.operation,
        credential: c.credential,
        ...(c.parameters === undefined ? {} : { parameters: c.parameters }),
      },
    }));
  const notifications: Notification[] = report.operations
    .filter((o) => o.coverage === 'skipped')
    .map((o) => ({
      level: 'error',
      message: { text: `${o.operation} was not exercised: ${o.reason ?? 'no reason given'}` },
      descriptor: { id: 'not-exercised' },
    }));
  const started = new Date(report.startedAt);
  const log: Log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'bulkhead verify',
            semanticVersion: options.version,
            rules,
          },
        },
        invocations: [
          {
            executionSuccessful: report.summary.skipped === 0,
            startTimeUtc: started.toISOString(),
            endTimeUtc: new Date(started.getTime() + report.elapsedMs).toISOString(),
            toolExecutionNotifications: notifications,
          },
        ],
        artifacts: [{ location: { uri: report.spec } }],
        results,
        properties: { target: report.target, summary: report.summary },
      },
    ],
  };
  return JSON.stringify(log, null, 2);
}
