// Standard HTTP semantics on both store backends: a known path asked with a method no route takes is
// 405 with `Allow`, a body of a media type the route does not take is 415, and neither says anything of
// another domain or changes anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';
import { comparable, createTenant, domainState, type Tenant } from '../helpers/tenants.js';

let seq = 0;
const slug = (base: string) => `${base}-${process.pid}-${++seq}`;

describe.each(backends)('HTTP semantics on $name', (backend) => {
  let api: TestApi;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createTenant(api.app, operatorToken, slug('sem-a'));
    b = await createTenant(api.app, operatorToken, slug('sem-b'));
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers a method no route takes with 405 and the methods that are', async () => {
    const res = await api.call('PATCH', '/v1/domains');
    expect(res.statusCode, res.body).toBe(405);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
    expect(res.headers['allow']).toBe('GET, HEAD, POST');

    const doc = await api.call('DELETE', '/openapi.json', { token: null });
    expect(doc.statusCode).toBe(405);
    expect(doc.headers['allow']).toBe('GET, HEAD');

    // A path with parameters, and one under a wildcard.
    const key = await api.call('PUT', `/v1/domains/${a.id}/keys`, { token: a.key });
    expect(key.statusCode).toBe(405);
    expect(String(key.headers['allow']).split(', ')).toContain('POST');
  });

  it('keeps 404 for a path no route serves, whatever the method', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api.call(method, '/v1/no-such-thing');
      expect(res.statusCode).toBe(404);
      expect(res.headers['allow']).toBeUndefined();
    }
  });

  it("answers the same 405 for another domain's path as for its own, and changes nothing", async () => {
    const before = await domainState(api.services, b.id);
    const own = await api.call('PATCH', `/v1/domains/${a.id}/keys`, { token: a.key });
    const foreign = await api.call('PATCH', `/v1/domains/${b.id}/keys`, { token: a.key });
    const unknown = await api.call('PATCH', '/v1/domains/dom_00000000000000000000000000/keys', {
      token: a.key,
    });
    expect(own.statusCode).toBe(405);
    expect(comparable(foreign)).toEqual(comparable(own));
    expect(comparable(unknown)).toEqual(comparable(own));
    expect(await domainState(api.services, b.id)).toEqual(before);
  });

  it('answers a body of an unsupported media type with 415 and creates nothing', async () => {
    const before = await api.call('GET', '/v1/domains');
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const res = await api.call('POST', '/v1/domains', {
        body: JSON.stringify({ slug: slug('plain'), name: 'Plain' }),
        headers: { 'content-type': type },
      });
      expect(res.statusCode, `${type}: ${res.body}`).toBe(415);
      expect(res.json()).toMatchObject({ code: 'unsupported_media_type' });
    }
    const after = await api.call('GET', '/v1/domains');
    expect(after.json()).toEqual(before.json());

    // The sign-in form takes forms and JSON, not text.
    const login = await api.call('POST', '/v1/auth/token', {
      token: null,
      body: 'grant_type=password',
      headers: { 'content-type': 'text/plain' },
    });
    expect(login.statusCode).toBe(415);
  });
});
