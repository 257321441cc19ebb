// /metrics after real traffic in two domains, on both stores: requests are counted by route template
// (an unmatched path under one label, never the path itself), authentication by credential kind and
// outcome, provider calls by kind, audit writes, grant look-ups; the isolation families are still there;
// and nothing in the body names a domain, a slug, a resource or a key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/types.js';
import { openProvidedApi, operatorToken, unique } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import type { TestProviders } from '../helpers/providers.js';
import { createTenant, credentialHeaders, type Tenant } from '../helpers/tenants.js';

/** The value of one series of a Prometheus text body, 0 when it is absent. */
export function sample(body: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) {
      total += Number(match[3]);
    }
  }
  return total;
}

describe.each(backends)('/metrics after traffic in two domains ($name)', (backend) => {
  let app: App;
  let providers: TestProviders;
  let close: () => Promise<void>;
  let a: Tenant;
  let b: Tenant;
  let body: string;
  const resourceIds: string[] = [];

  beforeAll(async () => {
    const opened = await openProvidedApi(backend);
    app = opened.app;
    providers = opened.providers;
    close = async () => {
      await app.close();
      await opened.services.drop();
      providers.remove();
    };
    a = await createTenant(app, operatorToken, unique('metrics-a'));
    b = await createTenant(app, operatorToken, unique('metrics-b'));
    for (const [tenant, name] of [
      [a, 'files'],
      [b, 'files'],
      [a, 'more'],
    ] as const) {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/domains/${tenant.id}/resources`,
        headers: credentialHeaders(tenant, 'key', operatorToken, 'POST'),
        payload: { kind: 'storage', name },
      });
      expect(res.statusCode, res.body).toBe(201);
      resourceIds.push(res.json<{ id: string }>().id);
    }
    for (const [tenant, credential] of [
      [b, 'token'],
      [a, 'session'],
    ] as const) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/whoami',
        headers: credentialHeaders(tenant, credential, operatorToken),
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    // A's key on B's instances (no grant), a key that is no key, a path no route serves naming B.
    const cross = await app.inject({
      method: 'GET',
      url: `/v1/domains/${b.id}/instances`,
      headers: { authorization: `Bearer ${a.key}` },
    });
    expect(cross.statusCode).toBe(404);
    const bad = await app.inject({
      method: 'GET',
      url: `/v1/domains/${a.id}/resources`,
      headers: { authorization: `Bearer ${a.key}x` },
    });
    expect(bad.statusCode).toBe(401);
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { grant_type: 'password', domain: a.id, username: 'ada@example.com', password: 'not it' },
    });
    expect(wrong.statusCode).toBe(400);
    const wrongCookie = await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { origin: 'http://localhost' },
      payload: { domain: a.id, username: 'ada@example.com', password: 'not it either' },
    });
    expect(wrongCookie.statusCode, wrongCookie.body).toBe(400);
    const nowhere = await app.inject({ method: 'GET', url: `/v1/nowhere/${b.slug}/${b.id}` });
    expect(nowhere.statusCode).toBe(404);
    const res = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(res.statusCode).toBe(200);
    body = res.body;
  });
  afterAll(() => close());

  it('counts requests and their durations by route template, method and status', () => {
    const created = { route: '/v1/domains/:domainId/resources', method: 'POST', status: '201' };
    expect(sample(body, 'bulkhead_http_requests_total', created)).toBe(3);
    expect(sample(body, 'bulkhead_http_request_duration_seconds_count', created)).toBe(3);
    expect(sample(body, 'bulkhead_http_request_duration_seconds_bucket', { ...created, le: '+Inf' })).toBe(3);
    expect(
      sample(body, 'bulkhead_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }),
    ).toBe(1);
    expect(
      sample(body, 'bulkhead_http_requests_total', {
        route: '/v1/domains/:domainId/resources',
        method: 'GET',
        status: '401',
      }),
    ).toBe(1);
  });

  it('counts authentication by credential kind and outcome', () => {
    const auth = (credential: string, outcome: string) =>
      sample(body, 'bulkhead_auth_attempts_total', { credential, outcome });
    expect(auth('key', 'success')).toBeGreaterThanOrEqual(2);
    expect(auth('token', 'success')).toBe(1);
    expect(auth('cookie', 'success')).toBe(1);
    expect(auth('operator', 'success')).toBeGreaterThanOrEqual(1);
    expect(auth('key', 'denied')).toBe(1);
    // Each tenant's sign-ins (createTenant: one for a token, one for a cookie), one wrong password at the
    // token endpoint and one at the cookie sign-in.
    expect(auth('password', 'success')).toBe(4);
    expect(auth('password', 'denied')).toBe(2);
  });

  it('times provider calls by kind, operation and outcome, audit writes, and grant look-ups', () => {
    expect(
      sample(body, 'bulkhead_provisioning_duration_seconds_count', {
        kind: 'storage',
        operation: 'create',
        outcome: 'success',
      }),
    ).toBe(3);
    expect(sample(body, 'bulkhead_audit_append_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample(body, 'bulkhead_grant_uses_total', { outcome: 'none' })).toBe(1);
    expect(body).toContain('# TYPE bulkhead_revocation_feed_lag_seconds histogram');
  });

  it('keeps the isolation families', () => {
    for (const name of [
      'bulkhead_isolation_runs_total',
      'bulkhead_isolation_checks_total',
      'bulkhead_isolation_last_run_success',
    ])
      expect(body).toContain(`# TYPE ${name} `);
  });

  it('names no domain, slug, resource or key', () => {
    for (const tenant of [a, b]) {
      for (const value of [tenant.id, tenant.slug, tenant.key.slice(0, 12)])
        expect(body).not.toContain(value);
      // The id's random part too, in case some label held it in another form.
      expect(body).not.toContain(tenant.id.slice(tenant.id.indexOf('_') + 1));
    }
    for (const id of resourceIds) expect(body).not.toContain(id.slice(id.indexOf('_') + 1));
    expect(body).not.toContain('/v1/nowhere');
  });
});
