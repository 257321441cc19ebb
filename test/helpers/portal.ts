// Portal helpers: two domains with portal hosts, branding and a person each, and signing in at a host
// the way a browser does (the sign-in page's cookie and form token, an Origin of the host).
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { App } from '../../src/http/types.js';
import { tenantPassword } from './tenants.js';

export const xss = '<img src=x onerror=alert(1)>';

export interface PortalTenant {
  readonly id: string;
  readonly host: string;
  readonly key: string;
  readonly email: string;
}

const op = (token: string) => ({ authorization: `Bearer ${token}` });

/** A domain with a provisioning key, a portal host, branding and a person with a password. */
export async function createPortalTenant(
  app: App,
  operatorToken: string,
  input: { slug: string; host: string; displayName: string; color: string; email?: string },
): Promise<PortalTenant> {
  const d = await app.inject({
    method: 'POST',
    url: '/v1/domains',
    headers: op(operatorToken),
    payload: { slug: input.slug, name: input.slug },
  });
  expect(d.statusCode, d.body).toBe(201);
  const id = d.json<{ id: string }>().id;
  const k = await app.inject({
    method: 'POST',
    url: `/v1/domains/${id}/keys`,
    headers: op(operatorToken),
    payload: {},
  });
  expect(k.statusCode, k.body).toBe(201);
  const portal = await app.inject({
    method: 'PUT',
    url: `/v1/domains/${id}/portal`,
    headers: op(operatorToken),
    payload: {
      hosts: [input.host],
      displayName: input.displayName,
      primaryColor: input.color,
      supportEmail: `help@${input.host}`,
    },
  });
  expect(portal.statusCode, portal.body).toBe(200);
  const email = input.email ?? `ada@${input.host}`;
  const p = await app.inject({
    method: 'POST',
    url: `/v1/domains/${id}/principals`,
    headers: op(operatorToken),
    payload: { kind: 'user', email, password: tenantPassword, role: 'admin' },
  });
  expect(p.statusCode, p.body).toBe(201);
  return { id, host: input.host, key: k.json<{ key: string }>().key, email };
}

/** The `name=value` pairs a response sets, by name. */
export function cookiesOf(res: LightMyRequestResponse): Record<string, string> {
  const set = res.headers['set-cookie'];
  const lines = set === undefined ? [] : Array.isArray(set) ? set : [set];
  return Object.fromEntries(lines.map((l) => l.split(';')[0]!.split('=') as [string, string]));
}

/** The form token in a page. */
export function csrfOf(html: string): string {
  const found = /name="csrf" value="([^"]*)"/.exec(html);
  if (found === null) throw new Error(`no form token in the page: ${html.slice(0, 200)}`);
  return found[1]!;
}

/** Signs in at `host` as a browser does; answers the portal cookie (`name=value`) and the POST's answer. */
export async function signIn(
  app: App,
  host: string,
  email: string,
  password = tenantPassword,
  next?: string,
): Promise<{ cookie: string | null; res: LightMyRequestResponse }> {
  const page = await app.inject({ method: 'GET', url: '/sign-in', headers: { host } });
  expect(page.statusCode, page.body).toBe(200);
  const pre = Object.entries(cookiesOf(page)).map(([n, v]) => `${n}=${v}`)[0]!;
  const res = await app.inject({
    method: 'POST',
    url: '/sign-in',
    headers: {
      host,
      origin: `https://${host}`,
      cookie: pre,
      'content-type': 'application/x-www-form-urlencoded',
    },
    payload: new URLSearchParams({
      csrf: csrfOf(page.body),
      email,
      password,
      ...(next === undefined ? {} : { next }),
    }).toString(),
  });
  const portal = cookiesOf(res)['__Host-bulkhead_portal'];
  return { cookie: portal === undefined || portal === '' ? null : `__Host-bulkhead_portal=${portal}`, res };
}
