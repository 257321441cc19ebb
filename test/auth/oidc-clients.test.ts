// Each domain's registered OAuth clients, on both stores: the operator and the domain's admins register,
// list and delete them; an admin of another domain finds nothing and changes nothing; redirect URIs are
// checked as registered; secrets are stored only hashed; a registered client authenticates at its own
// domain's introspection endpoint only, the way it registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

const registration = {
  name: 'web app',
  kind: 'confidential',
  redirectUris: ['https://app.example/callback', 'http://127.0.0.1:8123/cb'],
  grantTypes: ['authorization_code', 'refresh_token'],
  allowedOrigins: ['https://app.example'],
};

interface Registered {
  id: string;
  clientId: string;
  clientSecret?: string;
  domainId: string;
  tokenEndpointAuthMethod: string;
}

describe.each(backends)('OAuth clients on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: Tenant;
  let b: Tenant;
  const call = callerOf(() => app, { token: null });
  const clients = (domainId: string) => `/v1/domains/${domainId}/oauth-clients`;
  const list = async (domainId: string) =>
    (await call('GET', clients(domainId), { token: operatorToken })).json<{ items: Registered[] }>().items;

  beforeAll(async () => {
    services = await openTestServices(backend, { publicUrl: 'https://id.example' });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    a = await createTenant(app, operatorToken, `ocl-a-${backend.name}-${process.pid}`);
    b = await createTenant(app, operatorToken, `ocl-b-${backend.name}-${process.pid}`);
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('lets the operator and the domain’s admin register clients, shows a secret once, stores it hashed', async () => {
    const byOperator = await call('POST', clients(a.id), { token: operatorToken, body: registration });
    expect(byOperator.statusCode, byOperator.body).toBe(201);
    const created = byOperator.json<Registered>();
    expect(created).toMatchObject({ domainId: a.id, tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(created.clientId).toMatch(/^bho_[0-9a-f]{32}$/);
    expect(created.clientSecret).toMatch(/^bhs_/);
    const byAdmin = await call('POST', clients(a.id), {
      token: a.token,
      body: {
        name: 'spa',
        kind: 'public',
        redirectUris: ['https://spa.example/cb'],
        grantTypes: ['authorization_code'],
      },
    });
    expect(byAdmin.statusCode, byAdmin.body).toBe(201);
    expect(byAdmin.json<Registered>()).toMatchObject({ tokenEndpointAuthMethod: 'none' });
    expect(byAdmin.json()).not.toHaveProperty('clientSecret');
    const listed = await list(a.id);
    expect(listed.map((c) => c.id).sort()).toEqual([created.id, byAdmin.json<Registered>().id].sort());
    expect(JSON.stringify(listed)).not.toContain(created.clientSecret!);
    const [row] = await asOwner(services.store, (tx) =>
      tx.selectFrom('oauth_clients').select('secret_hash').where('id', '=', created.id).execute(),
    );
    expect(row!.secret_hash).not.toContain(created.clientSecret!);
    expect(row!.secret_hash).toMatch(/^scrypt/);
  });

  it.each([
    ['a relative redirect URI', { redirectUris: ['/cb'] }],
    ['plain http on a public host', { redirectUris: ['http://app.example/cb'] }],
    ['a fragment', { redirectUris: ['https://app.example/cb#x'] }],
    ['a wildcard', { redirectUris: ['https://*.example/cb'] }],
    ['user information', { redirectUris: ['https://user@app.example/cb'] }],
    ['another scheme', { redirectUris: ['javascript:alert(1)'] }],
    ['no redirect URI for the code grant', { redirectUris: [] }],
    [
      'a public client with a secret method',
      { kind: 'public', tokenEndpointAuthMethod: 'client_secret_basic' },
    ],
    ['a confidential client without one', { tokenEndpointAuthMethod: 'none' }],
    ['a public client with client credentials', { kind: 'public', grantTypes: ['client_credentials'] }],
    ['an origin with a path', { allowedOrigins: ['https://app.example/x'] }],
  ])('refuses %s with 400 and registers nothing', async (_name, change) => {
    const before = await list(a.id);
    const res = await call('POST', clients(a.id), {
      token: operatorToken,
      body: { ...registration, ...change },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_request' });
    expect(await list(a.id)).toEqual(before);
  });

  it('answers A’s admin on B’s clients exactly as on a domain that does not exist, and changes nothing', async () => {
    const bClient = (
      await call('POST', clients(b.id), { token: operatorToken, body: registration })
    ).json<Registered>();
    const before = await list(b.id);
    const unknown = 'dom_00000000000000000000000000';
    for (const [method, path, body] of [
      ['GET', (d: string) => clients(d), undefined],
      ['POST', (d: string) => clients(d), registration],
      ['DELETE', (d: string) => `${clients(d)}/${bClient.id}`, undefined],
    ] as const) {
      for (const credential of [a.token, a.key]) {
        const onB = await call(method, path(b.id), { token: credential, ...(body ? { body } : {}) });
        const onNothing = await call(method, path(unknown), { token: credential, ...(body ? { body } : {}) });
        expect(onB.statusCode, `${method} ${onB.body}`).toBe(onNothing.statusCode);
        expect(onB.json<{ code: string }>().code).toBe(onNothing.json<{ code: string }>().code);
      }
    }
    // A's admin naming B's client under A's own domain: 404, and B's client stays.
    const crossed = await call('DELETE', `${clients(a.id)}/${bClient.id}`, { token: a.token });
    expect(crossed.statusCode).toBe(404);
    expect(await list(b.id)).toEqual(before);
  });

  it('refuses a member of the domain with 403 admin_required', async () => {
    const member = await call('POST', `/v1/domains/${a.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'member@example.com', password: 'correct horse battery staple' },
    });
    expect(member.statusCode).toBe(201);
    const token = (
      await call('POST', '/v1/auth/token', {
        body: {
          grant_type: 'password',
          domain: a.id,
          username: 'member@example.com',
          password: 'correct horse battery staple',
        },
      })
    ).json<{ access_token: string }>().access_token;
    const res = await call('GET', clients(a.id), { token });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'admin_required' });
  });

  it('authenticates a registered client at its own domain’s endpoints only, the way it registered, until deleted', async () => {
    const basic = (
      await call('POST', clients(a.id), { token: operatorToken, body: registration })
    ).json<Registered>();
    const posted = (
      await call('POST', clients(a.id), {
        token: operatorToken,
        body: { ...registration, tokenEndpointAuthMethod: 'client_secret_post' },
      })
    ).json<Registered>();
    const header = (c: Registered) => ({
      authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret!}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    const form = (c: Registered) =>
      `client_id=${c.clientId}&client_secret=${encodeURIComponent(c.clientSecret!)}`;
    const introspect = (slug: string, body: string, headers: Record<string, string>) =>
      call('POST', `/d/${slug}/introspect`, {
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
    expect((await introspect(a.slug, `token=${a.token}`, header(basic))).json()).toMatchObject({
      active: true,
    });
    expect((await introspect(a.slug, `token=${a.token}&${form(posted)}`, {})).json()).toMatchObject({
      active: true,
    });
    // Not the way it registered, or at another domain's endpoint: invalid_client.
    expect((await introspect(a.slug, `token=${a.token}&${form(basic)}`, {})).statusCode).toBe(401);
    expect((await introspect(a.slug, `token=${a.token}`, header(posted))).statusCode).toBe(401);
    const atB = await introspect(b.slug, `token=${b.token}`, header(basic));
    expect(atB.statusCode).toBe(401);
    expect(atB.json()).toMatchObject({ error: 'invalid_client' });
    // A registered client cannot take the client-credentials grant of a service account.
    const grant = await call('POST', `/d/${a.slug}/token`, {
      body: 'grant_type=client_credentials',
      headers: header(basic),
    });
    expect(grant.statusCode).toBe(400);
    expect(grant.json()).toMatchObject({ error: 'unauthorized_client' });
    // Deleted: it authenticates nowhere from the next request on.
    expect((await call('DELETE', `${clients(a.id)}/${basic.id}`, { token: a.token })).statusCode).toBe(204);
    expect((await introspect(a.slug, `token=${a.token}`, header(basic))).statusCode).toBe(401);
    expect((await list(a.id)).map((c) => c.id)).not.toContain(basic.id);
  });
});
