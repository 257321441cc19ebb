// The RateLimit headers of the rate-limited routes without a domain's credential (the sign-in and token
// endpoints, limited by failed attempts), on both store backends: every answer says what is left, a 429
// says when to retry, and one account's failures are not another's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';
import { createTenant, tenantPassword, type Tenant } from '../helpers/tenants.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;

describe.each(backends)('RateLimit headers on $name', (backend) => {
  let api: TestApi;
  let a: Tenant;

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createTenant(api.app, operatorToken, slug('rl-a'));
  });
  afterAll(async () => {
    await api.close();
  });

  const token = (username: string, password: string) =>
    api.call('POST', '/v1/auth/token', {
      token: null,
      body: { grant_type: 'password', domain: a.id, username, password },
    });

  it('gives the failed-attempt limits on every password grant, counts down, and says when to retry on 429', async () => {
    const name = `rl-${seq}@example.com`;
    const first = await token(name, 'guess');
    expect(first.statusCode).toBe(400);
    expect(first.headers['ratelimit-policy']).toBe('"account";q=10;w=900, "address";q=50;w=900');
    expect(first.headers['ratelimit']).toMatch(/^"account";r=9;t=(899|900)$/);
    for (let i = 0; i < 9; i++) await token(name, 'guess');
    const limited = await token(name, 'guess');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['ratelimit']).toMatch(/^"account";r=0;t=\d+$/);

    // Another account of the same client is counted apart: its own budget, less the address's.
    const other = await token('ada@example.com', tenantPassword);
    expect(other.statusCode, other.body).toBe(200);
    expect(other.headers['ratelimit']).toMatch(/^"account";r=10;t=0$/);
  });

  it('gives them on the cookie sign-in too', async () => {
    const res = await api.call('POST', '/v1/auth/login', {
      token: null,
      headers: { origin: 'http://localhost' },
      body: { domain: a.id, username: 'ada@example.com', password: 'not it' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['ratelimit-policy']).toMatch(/^"account";q=\d+;w=\d+, "address";q=\d+;w=\d+$/);
    expect(res.headers['ratelimit']).toMatch(/^"account";r=\d+;t=\d+$/);
  });

  it('keeps the domain-share headers on requests with a credential', async () => {
    const res = await api.call('GET', `/v1/domains/${a.id}/instances`, { token: a.key });
    expect(res.statusCode).toBe(200);
    expect(res.headers['ratelimit']).toMatch(/^"domain";r=\d+;t=\d+$/);
    expect(res.headers['ratelimit-policy']).toMatch(/^"domain";q=\d+;w=1$/);
  });
});
