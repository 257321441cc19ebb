// The server's own Prometheus metrics, beside the isolation runs' families on the same registry: HTTP
// requests by route template, authentication outcomes by credential kind, provider calls by resource kind,
// audit appends, the revocation feed's lag and grant uses. Every label takes its value from a short closed
// list (a route template, a method, a status, a kind, an outcome): no domain id, slug, resource id or
// other per-tenant value is ever a label, so the series stay few and a scrape tells nothing of a tenant.
import { collectDefaultMetrics, Counter, Histogram, type Registry } from 'prom-client';

/** The route label of a request no route matched (404, 405): never the raw path, which the client picks. */
export const unmatchedRoute = 'unmatched';

/**
 * How a credential was presented: on a request (a key, an access token, the session cookie, the operator
 * or metrics token, none), or to the token endpoint (a password, a client's secret, a refresh token).
 */
export type CredentialKind =
  'key' | 'token' | 'cookie' | 'operator' | 'none' | 'password' | 'client' | 'refresh';

/** What came of a request's credential: accepted, refused as a credential, or refused for another reason. */
export type AuthOutcome = 'success' | 'denied' | 'refused' | 'error';

/** The methods of HTTP; anything else is counted as `other`. */
const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Buckets for request and store times: 1 ms to 10 s. */
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets for provisioning and feed lag, which take longer: 5 ms to 2 min. */
const slowBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * The server's metrics, registered on `registry` (the one /metrics serves). One per server: tests build
 * several in one process, each with its own registry.
 *
 * @example
 * const metrics = new ServerMetrics(registry);
 * metrics.request('GET', '/v1/domains/:domainId', 200, 0.004);
 */
export class ServerMetrics {
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly requestSeconds: Histogram<'route' | 'method' | 'status'>;
  private readonly auth: Counter<'credential' | 'outcome'>;
  private readonly providerSeconds: Histogram<'kind' | 'operation' | 'outcome'>;
  private readonly auditSeconds: Histogram<'path'>;
  private readonly feedLag: Histogram;
  private readonly grants: Counter<'outcome'>;
  private processCollected = false;
  // The children of each label set, found once: prom-client validates and hashes the labels on every
  // call otherwise, which costs a request more than everything else here. The sets are few (closed lists).
  private readonly requestSeries = new Map<string, { count(): void; time(seconds: number): void }>();
  private readonly authSeries = new Map<string, { inc(): void }>();

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'bulkhead_http_requests_total',
      help: 'HTTP requests answered, by route template (unmatched: no route), method and status.',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'bulkhead_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being sent, by route template, method and status.',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: latencyBuckets,
      registers,
    });
    this.auth = new Counter({
      name: 'bulkhead_auth_attempts_total',
      help:
        'Credentials presented to routes that need one, by kind (key, token, cookie, operator, none) and ' +
        'outcome (success, denied: a bad credential, refused: refused for another reason, error).',
      labelNames: ['credential', 'outcome'] as const,
      registers,
    });
    this.providerSeconds = new Histogram({
      name: 'bulkhead_provisioning_duration_seconds',
      help:
        'Calls to the backend providers (create, delete, credentials …), by resource kind, operation and ' +
        'outcome (success, failure).',
      labelNames: ['kind', 'operation', 'outcome'] as const,
      buckets: slowBuckets,
      registers,
    });
    this.auditSeconds = new Histogram({
      name: 'bulkhead_audit_append_duration_seconds',
      help:
        'Time to write audit events: the commit message that carries them (path=commit), or the ' +
        'statements run at once (path=immediate).',
      labelNames: ['path'] as const,
      buckets: latencyBuckets,
      registers,
    });
    this.feedLag = new Histogram({
      name: 'bulkhead_revocation_feed_lag_seconds',
      help: 'Time from a revocation being recorded to its message being published on the feed.',
      buckets: slowBuckets,
      registers,
    });
    this.grants = new Counter({
      name: 'bulkhead_grant_uses_total',
      help: 'Cross-domain grant look-ups, by outcome (used: a live grant allowed it, none: no grant did).',
      labelNames: ['outcome'] as const,
      registers,
    });
    // The series of closed label sets exist from the start, so rate() and absence alerts work at once.
    for (const outcome of ['used', 'none']) this.grants.inc({ outcome }, 0);
    for (const path of ['commit', 'immediate']) this.auditSeconds.zero({ path });
  }

  /** Process and event-loop metrics (prom-client's defaults); once, by the server process. */
  collectProcess(): void {
    if (this.processCollected) return;
    this.processCollected = true;
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which Prometheus' linter refuses: each is the sum over `type` of the
    // family without the suffix (sum(nodejs_active_handles) gives it).
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ])
      this.registry.removeSingleMetric(name);
  }

  /** One answered request; `route` is the route's template, or null when no route matched. */
  request(method: string, route: string | null, status: number, seconds: number): void {
    const known = methods.has(method) ? method : 'other';
    const key = `${known} ${status} ${route ?? ''}`;
    let series = this.requestSeries.get(key);
    if (series === undefined) {
      const labels = { route: route ?? unmatchedRoute, method: known, status: String(status) };
      const counter = this.requests.labels(labels);
      const histogram = this.requestSeconds.labels(labels);
      series = { count: () => counter.inc(), time: (s) => histogram.observe(s) };
      this.requestSeries.set(key, series);
    }
    series.count();
    series.time(seconds);
  }

  authentication(credential: CredentialKind, outcome: AuthOutcome): void {
    const key = `${credential} ${outcome}`;
    let series = this.authSeries.get(key);
    if (series === undefined) {
      series = this.auth.labels({ credential, outcome });
      this.authSeries.set(key, series);
    }
    series.inc();
  }

  providerCall(kind: string, operation: string, ok: boolean, seconds: number): void {
    this.providerSeconds.observe({ kind, operation, outcome: ok ? 'success' : 'failure' }, seconds);
  }

  auditAppend(path: 'commit' | 'immediate', seconds: number): void {
    this.auditSeconds.observe({ path }, seconds);
  }

  revocationPublished(lagSeconds: number): void {
    this.feedLag.observe(Math.max(0, lagSeconds));
  }

  grantUse(used: boolean): void {
    this.grants.inc({ outcome: used ? 'used' : 'none' });
  }
}

/** Seconds since `start`, a `performance.now()` reading. */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
