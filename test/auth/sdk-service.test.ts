// Another service using the SDK against a real Bulkhead over HTTP: tokens of the resource's domain pass;
// tokens of another domain, forged ones and revoked sessions (once the service is told) are refused.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOrdersService } from '../../examples/orders-service.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { bulkheadMiddleware, createVerifier, type Verifier } from '../../src/sdk/index.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';

const issuer = 'https://bulkhead.sdk.test';
const password = 'correct horse battery staple';

describe('the SDK in another service', () => {
  let services: Services & { drop(): Promise<void> };
  let bulkhead: App;
  let base: string;
  let verifier: Verifier;
  const revoked = new Set<string>();
  const domains: Record<'a' | 'b', { id: string; token: string }> = {
    a: { id: '', token: '' },
    b: { id: '', token: '' },
  };

  beforeAll(async () => {
    services = await openTestServices(
      backends.find((b) => b.name === 'pglite')!,
      { issuer },
    );
    await services.operator.initialise(operatorToken);
    bulkhead = await buildServer(services);
    base = await bulkhead.listen({ host: '127.0.0.1', port: 0 });
    for (const name of ['a', 'b'] as const) {
      const d = await services.domains.create(
        { actor: 'test', requestId: null },
        { slug: `sdk-${name}-${process.pid}`, name },
      );
      await services.principals.create({ actor: 'test', requestId: null }, d.id, {
        kind: 'user',
        email: 'dev@example.com',
        password,
      });
      const res = await fetch(`${base}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          domain: d.slug,
          username: 'dev@example.com',
          password,
        }),
      });
      domains[name] = { id: d.id, token: ((await res.json()) as { access_token: string }).access_token };
    }
    verifier = createVerifier({
      issuer,
      jwksUri: `${base}/.well-known/jwks.json`,
      isRevoked: (t) => revoked.has(t.sessionId),
    });
  });
  afterAll(async () => {
    await bulkhead.close();
    await services.drop();
  });

  it('lets each domain read only its own orders', async () => {
    const orders = buildOrdersService(verifier);
    const as = (who: 'a' | 'b', domainId: string, method: 'GET' | 'POST' = 'GET') =>
      orders.inject({
        method,
        url: `/domains/${domainId}/orders`,
        headers: { authorization: `Bearer ${domains[who].token}` },
        ...(method === 'POST' ? { payload: { item: 'secret-of-a' } } : {}),
      });
    expect((await as('a', domains.a.id, 'POST')).statusCode).toBe(201);
    const mine = await as('a', domains.a.id);
    expect(mine.statusCode).toBe(200);
    expect(mine.body).toContain('secret-of-a');
    const foreign = await as('b', domains.a.id);
    expect(foreign.statusCode).toBe(401);
    expect(foreign.body).not.toContain('secret-of-a');
    const unknown = await orders.inject({
      method: 'GET',
      url: `/domains/${domains.a.id}/orders`,
      headers: { authorization: 'Bearer x.y.z' },
    });
    expect(unknown.body).toBe(foreign.body);
    expect((await as('b', domains.b.id)).json()).toEqual({ domainId: domains.b.id, orders: [] });
    await orders.close();
  });

  it('refuses forged tokens and honours a revoked session', async () => {
    const [h, p] = domains.a.token.split('.') as [string, string];
    await expect(verifier.verify(`${h}.${p}.`, domains.a.id)).rejects.toThrow();
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
    await expect(verifier.verify(none, domains.a.id)).rejects.toThrow();
    const ok = await verifier.verify(domains.a.token, domains.a.id);
    revoked.add(ok.sessionId);
    await expect(verifier.verify(domains.a.token, domains.a.id)).rejects.toThrow();
    revoked.clear();
  });

  it('works as plain Node middleware', async () => {
    const middleware = bulkheadMiddleware({
      verifier,
      domainOf: (req) => new URL(req.url ?? '/', 'http://x').searchParams.get('domain'),
    });
    const server: Server = createServer((req, res) =>
      middleware(req, res, (error) => {
        res.writeHead(error === undefined ? 200 : 500);
        res.end(error === undefined ? 'ok' : 'error');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const get = (domain: string, token: string) =>
      fetch(`http://127.0.0.1:${port}/?domain=${domain}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get(domains.a.id, domains.a.token)).status).toBe(200);
    expect((await get(domains.b.id, domains.a.token)).status).toBe(401);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('checks its options when it is built', () => {
    expect(() => createVerifier({ issuer: '', jwksUri: 'http://x' })).toThrow();
    expect(() => createVerifier({ issuer: 'x', jwksUri: 'not a url' })).toThrow();
    expect(() => bulkheadMiddleware({ verifier, domainOf: undefined as never })).toThrow();
  });
});
