import { describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openTestApi } from './helpers/api.js';

describe('smoke', () => {
  it('works', async () => {
    const api = await openTestApi(backends[0]!);
    const r = await api.call('POST', '/v1/domains', { body: { slug: 'Acme', name: 'Acme Inc' } });
    console.log(r.statusCode, r.headers, r.body);
    const id = r.json<{ id: string }>().id;
    const k = await api.call('POST', `/v1/domains/${id}/keys`, { body: {} });
    console.log(k.statusCode, k.body);
    const key = k.json<{ key: string }>().key;
    const w = await api.call('GET', '/v1/whoami', { token: key });
    console.log(w.statusCode, w.body);
    const x = await api.call('POST', '/v1/domains', { body: { slug: 'acme', name: 'x', extra: 1 } });
    console.log(x.statusCode, x.body);
    const o = await api.call('GET', '/openapi.json');
    console.log(o.statusCode, o.body.slice(0, 3000));
    const a = await api.call('GET', '/v1/audit/verify');
    console.log(a.statusCode, a.body);
    expect(r.statusCode).toBe(201);
    await api.close();
  });
});
