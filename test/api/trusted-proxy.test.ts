// Bulkhead behind a real reverse proxy (nginx), with and without BULKHEAD_TRUST_PROXY. Trusted, the
// client's address and the host it asked for come from the proxy's forwarded headers: a client guessing
// passwords fills its own failed-login bucket, not everyone's behind the proxy, and a cookie sign-in and
// sign-out pass the CSRF check although the proxy rewrites Host. Forwarded headers sent by anyone else,
// straight to the server, are ignored: they cannot escape a rate limit nor pass the CSRF check.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { operatorToken } from '../helpers/api.js';
import { startNginx, proxyAddress, type Nginx } from '../helpers/nginx.js';
import { createTenant, tenantPassword, type Tenant } from '../helpers/tenants.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request from `from` (a loopback address standing for one client) to 127.0.0.1:`port`. */
function send(
  port: number,
  from: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: from, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

let seq = 0;

describe.each([
  { trusted: true, name: 'trusted' },
  { trusted: false, name: 'not trusted' },
])('behind nginx, the proxy $name', ({ trusted }) => {
  let services: Awaited<ReturnType<typeof openTestServices>>;
  let app: App;
  let nginx: Nginx;
  let tenant: Tenant;
  let port: number;

  beforeAll(async () => {
    // Few failures per address, so that filling a bucket takes a handful of sign-ins.
    services = await openTestServices(backends[0]!, {
      loginLimits: { windowMs: 15 * 60_000, maxPerName: 10, maxPerAddress: 5 },
    });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services, trusted ? { trustProxy: [proxyAddress] } : {});
    tenant = await createTenant(app, operatorToken, `proxy-${process.pid}-${++seq}`);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    nginx = await startNginx(port);
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await services?.drop();
  });

  const passwordGrant = (username: string, password: string) =>
    form({ grant_type: 'password', domain: tenant.slug, username, password });

  it('keeps one client’s failed sign-ins in its own bucket only when it trusts the proxy', async () => {
    // One client behind the proxy guesses until its address is refused (5 failures, spread over
    // accounts so that no account's own limit is reached first).
    let refused: Answer | null = null;
    for (let i = 0; i < 10 && refused === null; i++) {
      const answer = await send(
        nginx.port,
        '127.0.0.3',
        'POST',
        '/v1/auth/token',
        formHeaders,
        passwordGrant(`guess${i}@example.com`, 'wrong'),
      );
      if (answer.status === 429) refused = answer;
      else expect(answer.status, answer.body).toBe(400);
    }
    expect(refused?.headers['retry-after']).toBeDefined();
    // Another client behind the same proxy, with the right password.
    const other = await send(
      nginx.port,
      '127.0.0.4',
      'POST',
      '/v1/auth/token',
      formHeaders,
      passwordGrant('ada@example.com', tenantPassword),
    );
    expect(other.status, other.body).toBe(trusted ? 200 : 429);
  });

  it('ignores forwarded headers from anyone but the proxy: a client cannot leave its bucket', async () => {
    for (let i = 0; i < 10; i++) {
      const answer = await send(
        port,
        '127.0.0.5',
        'POST',
        '/v1/auth/token',
        { ...formHeaders, 'x-forwarded-for': `10.9.${i}.1` },
        passwordGrant(`spoof${i}@example.com`, 'wrong'),
      );
      if (answer.status === 429) break;
    }
    const again = await send(
      port,
      '127.0.0.5',
      'POST',
      '/v1/auth/token',
      { ...formHeaders, 'x-forwarded-for': '10.8.8.8' },
      passwordGrant('ada@example.com', tenantPassword),
    );
    expect(again.status, again.body).toBe(429);
  });

  it('signs a browser in and out through a proxy that rewrites Host only when it trusts the proxy', async () => {
    const origin = `http://127.0.0.1:${nginx.port}`;
    const login = await send(
      nginx.port,
      '127.0.0.6',
      'POST',
      '/v1/auth/login',
      { ...formHeaders, origin },
      form({ domain: tenant.slug, username: 'ada@example.com', password: tenantPassword }),
    );
    if (!trusted) {
      expect(login.status, login.body).toBe(403);
      expect(JSON.parse(login.body)).toMatchObject({ code: 'csrf_rejected' });
      return;
    }
    expect(login.status, login.body).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const me = await send(nginx.port, '127.0.0.6', 'GET', '/v1/whoami', { cookie });
    expect(me.status, me.body).toBe(200);
    // A third site's page cannot sign the browser out through the proxy either.
    const forged = await send(nginx.port, '127.0.0.6', 'POST', '/v1/auth/logout', {
      cookie,
      origin: 'http://evil.example',
    });
    expect(forged.status, forged.body).toBe(403);
    const logout = await send(nginx.port, '127.0.0.6', 'POST', '/v1/auth/logout', { cookie, origin });
    expect(logout.status, logout.body).toBe(204);
    const after = await send(nginx.port, '127.0.0.6', 'GET', '/v1/whoami', { cookie });
    expect(after.status).toBe(401);
  });

  it('does not take X-Forwarded-Host from a client straight to the server', async () => {
    // The client names a host it does not use: the CSRF check compares with the real Host.
    const answer = await send(
      port,
      '127.0.0.7',
      'POST',
      '/v1/auth/login',
      { ...formHeaders, origin: 'http://evil.example', 'x-forwarded-host': 'evil.example' },
      form({ domain: tenant.slug, username: 'ada@example.com', password: tenantPassword }),
    );
    expect(answer.status, answer.body).toBe(403);
  });
});
