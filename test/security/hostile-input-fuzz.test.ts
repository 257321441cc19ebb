// Hostile input never produces a 5xx: random bodies, ids, query strings and credentials get a 4xx
// problem (or succeed, when they happen to be valid).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';

describe('hostile input on pglite', () => {
  let api: TestApi;
  let domainId: string;

  beforeAll(async () => {
    api = await openTestApi(backends.find((b) => b.name === 'pglite')!);
    domainId = (await api.call('POST', '/v1/domains', { body: { slug: 'fuzz-home', name: 'fuzz' } })).json<{
      id: string;
    }>().id;
  });
  afterAll(async () => {
    await api.close();
  });

  function expectNoServerError(res: { statusCode: number; headers: Record<string, unknown>; body: string }) {
    expect(res.statusCode, res.body).toBeLessThan(500);
    if (res.statusCode >= 400)
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  }

  it('answers random JSON bodies on every writing route with a 4xx or a success', async () => {
    const routes = ['/v1/domains', `/v1/domains/${domainId}/keys`, `/v1/domains/${domainId}/suspend`];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue(), async (url, body) => {
        const res = await api.app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
          payload: JSON.stringify(body) ?? 'null',
        });
        expectNoServerError(res);
      }),
      { numRuns: 150 },
    );
  });

  it('answers random raw bodies, path segments and query strings with a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 60 }),
        fc.string({ maxLength: 60 }),
        async (raw, segment, query) => {
          const body = await api.app.inject({
            method: 'POST',
            url: '/v1/domains',
            headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
            payload: raw,
          });
          expectNoServerError(body);
          const path = await api.app.inject({
            method: 'GET',
            url: `/v1/domains/${encodeURIComponent(segment)}/keys?${encodeURIComponent(query)}=${encodeURIComponent(segment)}`,
            headers: { authorization: `Bearer ${operatorToken}` },
          });
          expectNoServerError(path);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers random credentials with 401 and never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 600 }),
          fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`),
          fc.stringMatching(/^[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/).map((s) => `Bearer bhk_${s}`),
        ),
        async (authorization) => {
          let res;
          try {
            res = await api.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization } });
          } catch {
            return; // a header value Node itself refuses to send
          }
          expectNoServerError(res);
          expect(res.statusCode).toBe(401);
        },
      ),
      { numRuns: 150 },
    );
  });
});
