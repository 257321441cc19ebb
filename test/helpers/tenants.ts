// Domains with every kind of credential a tenant can hold (a provisioning key, an access token, a browser
// session), for tests that attack one domain with another's credentials.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { App } from '../../src/http/types.js';
import type { Actor } from '../../src/policy/principal.js';
import type { KeyPrincipal } from '../../src/keys/service.js';
import type { Services } from '../../src/runtime.js';
import { asOwner } from './backends.js';

export const tenantPassword = 'correct horse battery staple';

export type CredentialName = 'key' | 'token' | 'session';

export interface Tenant {
  readonly id: string;
  readonly slug: string;
  readonly key: string;
  readonly token: string;
  readonly cookie: string;
}

/** Headers that present one credential as a client would (a cookie change also sends its Origin). */
export function credentialHeaders(
  tenant: Tenant,
  credential: CredentialName | 'operator',
  operatorToken: string,
  method = 'GET',
): Record<string, string> {
  switch (credential) {
    case 'operator':
      return { authorization: `Bearer ${operatorToken}` };
    case 'key':
      return { authorization: `Bearer ${tenant.key}` };
    case 'token':
      return { authorization: `Bearer ${tenant.token}` };
    case 'session':
      return method === 'GET'
        ? { cookie: tenant.cookie }
        : { cookie: tenant.cookie, origin: 'http://localhost:80' };
  }
}

export async function createTenant(app: App, operatorToken: string, slug: string): Promise<Tenant> {
  const op = { authorization: `Bearer ${operatorToken}` };
  const d = await app.inject({
    method: 'POST',
    url: '/v1/domains',
    headers: op,
    payload: { slug, name: slug },
  });
  expect(d.statusCode, d.body).toBe(201);
  const id = d.json<{ id: string }>().id;
  const k = await app.inject({ method: 'POST', url: `/v1/domains/${id}/keys`, headers: op, payload: {} });
  expect(k.statusCode, k.body).toBe(201);
  const p = await app.inject({
    method: 'POST',
    url: `/v1/domains/${id}/principals`,
    headers: op,
    // An admin, so that attacks with its token and session carry the most a tenant's credential can.
    payload: { kind: 'user', email: 'ada@example.com', password: tenantPassword, role: 'admin' },
  });
  expect(p.statusCode, p.body).toBe(201);
  const t = await app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: { grant_type: 'password', domain: id, username: 'ada@example.com', password: tenantPassword },
  });
  expect(t.statusCode, t.body).toBe(200);
  const l = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    // A sign-in that sets a cookie comes from a page of this site (inject() calls localhost:80).
    headers: { origin: 'http://localhost' },
    payload: { domain: id, username: 'ada@example.com', password: tenantPassword },
  });
  expect(l.statusCode, l.body).toBe(200);
  return {
    id,
    slug,
    key: k.json<{ key: string }>().key,
    token: t.json<{ access_token: string }>().access_token,
    cookie: String(l.headers['set-cookie']).split(';')[0]!,
  };
}

/**
 * A domain with one provisioning key made straight through the services (no HTTP), with the key's
 * principal, for tests that call the provisioner themselves.
 */
export async function domainWithKeyPrincipal(
  services: Pick<Services, 'domains' | 'keys'>,
  actor: Actor,
  slug: string,
  name: string,
): Promise<{ id: string; key: string; principal: KeyPrincipal }> {
  const domain = await services.domains.create(actor, { slug, name });
  const issued = await services.keys.issue(actor, domain.id);
  return { id: domain.id, key: issued.key, principal: await services.keys.authenticate(issued.key, null) };
}

/** A problem answer without what differs between any two requests (its id, the date). */
export function comparable(res: LightMyRequestResponse) {
  const { requestId: _r, ...body } = res.json<{ requestId: string }>();
  const { 'x-request-id': _x, date: _d, ratelimit, ...headers } = res.headers;
  // The caller's own rate state moves with every request it makes, whatever the target: its shape is
  // compared, not the counts.
  const rate = typeof ratelimit === 'string' ? ratelimit.replace(/r=\d+;t=\d+$/, 'r=…;t=…') : ratelimit;
  return { status: res.statusCode, body, headers: { ...headers, ratelimit: rate } };
}

const tenantTables = [
  'domains',
  'provisioning_keys',
  'pools',
  'resources',
  'signing_keys',
  'principals',
  'sessions',
  'refresh_tokens',
  'instances',
  'volumes',
  'blueprints',
  'storage_reservations',
  'grants',
  'usage_records',
  'price_overrides',
  'invoices',
  'invoice_lines',
  'stripe_customers',
  'invoice_payments',
  'stripe_events',
  'billing_details',
  'portal_hosts',
  'portal_branding',
  'oauth_clients',
  'oauth_codes',
  'idempotent_requests',
] as const;

/**
 * Every row of a domain in every tenant table (timestamps of use left out: a refused request may not
 * change anything else), to prove that a refused request changed nothing of it.
 */
export async function domainState(services: Services, domainId: string): Promise<Record<string, unknown[]>> {
  return asOwner(services.store, async (tx) => {
    const state: Record<string, unknown[]> = {};
    for (const table of tenantTables) {
      const column = table === 'domains' ? 'id' : table === 'grants' ? 'to_domain_id' : 'domain_id';
      const rows = await tx
        .selectFrom(table)
        .selectAll()
        .where(column as never, '=', domainId as never)
        .execute();
      state[table] = (rows as Record<string, unknown>[])
        .map(({ last_used_at: _u, last_seen_at: _s, idle_until: _i, ...rest }) => rest)
        .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    }
    return state;
  });
}
