// The operator's portal settings through the API, on both stores: hosts in normal form and unique across
// domains, branding checked field by field, logos checked by their first bytes, and the host → domain
// lookup the portal makes for every request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseHost, requestHost } from '../../src/domain/hosts.js';
import { createDomainWithKey, openTestApi, unique, type TestApi } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { domainState } from '../helpers/tenants.js';

/** The smallest PNG: a 1×1 transparent pixel. */
const tinyPng = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

describe('host normal form', () => {
  it('lowercases, applies IDNA, strips one trailing dot, and refuses what is not a DNS name', () => {
    expect(normaliseHost('Portal.Example.COM.')).toBe('portal.example.com');
    expect(normaliseHost('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normaliseHost('BÜCHER.example.')).toBe('xn--bcher-kva.example');
    for (const bad of [
      '127.0.0.1',
      'localhost',
      'a.example:8080',
      'a.example/x',
      '',
      'a..b',
      '-a.example',
      'a b.c',
    ])
      expect(normaliseHost(bad), bad).toBeNull();
    expect(requestHost('Portal.A.Test:8443')).toBe('portal.a.test');
    expect(requestHost('portal.a.test.')).toBe('portal.a.test');
    expect(requestHost('[::1]:80')).toBeNull();
    expect(requestHost('portal.a.test:x')).toBeNull();
  });
});

describe.each(backends)('portal settings on $name', (backend) => {
  let api: TestApi;
  let a: { id: string };
  let b: { id: string };

  beforeAll(async () => {
    api = await openTestApi(backend);
    a = await createDomainWithKey(api.call, { slug: unique('pa'), name: 'Alpha Inc' });
    b = await createDomainWithKey(api.call, { slug: unique('pb'), name: 'Beta Ltd' });
  });
  afterAll(() => api.close());

  it('stores hosts in normal form, once, with the branding', async () => {
    const res = await api.call('PUT', `/v1/domains/${a.id}/portal`, {
      body: {
        hosts: [
          `Portal.${backend.name}.A.Example.`,
          `portal.${backend.name}.a.example`,
          `bücher-${backend.name}.example`,
        ],
        displayName: 'Alpha <Portal>',
        primaryColor: '#AA3300',
        supportEmail: 'help@alpha.example',
        supportUrl: 'https://alpha.example/help',
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ hosts: string[]; branding: Record<string, unknown> }>();
    expect(body.hosts).toHaveLength(2);
    expect(body.hosts).toContain(`portal.${backend.name}.a.example`);
    expect(body.hosts.find((h) => h.startsWith('xn--'))).toBeDefined();
    expect(body.branding).toMatchObject({
      displayName: 'Alpha <Portal>',
      primaryColor: '#aa3300',
      accentColor: '#0f7b5f',
      supportEmail: 'help@alpha.example',
      logo: null,
    });
    const site = await api.services.portal.site(`portal.${backend.name}.a.example`);
    expect(site).toMatchObject({ domainId: a.id, displayName: 'Alpha <Portal>' });
    expect(await api.services.portal.site('unknown.example')).toBeNull();
  });

  it("refuses another domain's host in any spelling, and changes nothing of either", async () => {
    const before = await domainState(api.services, b.id);
    const aBefore = (await api.call('GET', `/v1/domains/${a.id}/portal`)).json<unknown>();
    for (const spelling of [`PORTAL.${backend.name}.A.EXAMPLE`, `portal.${backend.name}.a.example.`]) {
      const res = await api.call('PUT', `/v1/domains/${b.id}/portal`, {
        body: { hosts: [`portal.${backend.name}.b.example`, spelling], displayName: 'Beta' },
      });
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json<{ code: string }>().code).toBe('host_taken');
    }
    expect(await domainState(api.services, b.id)).toEqual(before);
    expect((await api.call('GET', `/v1/domains/${a.id}/portal`)).json<unknown>()).toEqual(aBefore);
  });

  it('refuses hosts that are not DNS names, and bad branding, precisely', async () => {
    for (const host of ['127.0.0.1', 'localhost', 'a.example:8443', 'a.example/path', 'xn--.example']) {
      const res = await api.call('PUT', `/v1/domains/${b.id}/portal`, {
        body: { hosts: [host], displayName: 'B' },
      });
      expect(res.statusCode, `${host}: ${res.body}`).toBe(400);
      expect(res.json<{ code: string }>().code, host).toBe('invalid_host');
    }
    for (const body of [
      { hosts: [], displayName: 'B', primaryColor: 'red' },
      { hosts: [], displayName: 'B', supportUrl: 'javascript:alert(1)' },
      { hosts: [], displayName: 'B', supportEmail: 'not-an-email' },
      { hosts: [], displayName: '   ' },
    ]) {
      const res = await api.call('PUT', `/v1/domains/${b.id}/portal`, { body });
      expect(res.statusCode, res.body).toBe(400);
    }
    const unknown = await api.call('PUT', '/v1/domains/dom_00000000000000000000000000/portal', {
      body: { hosts: [], displayName: 'X' },
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('keeps a PNG logo, and refuses SVG, a type its bytes belie, and one too large', async () => {
    const url = `/v1/domains/${b.id}/portal/logo`;
    const ok = await api.call('PUT', url, { body: tinyPng, headers: { 'content-type': 'image/png' } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json<{ branding: { logo: { type: string } } }>().branding.logo.type).toBe('image/png');
    const logo = await api.services.portal.logo(b.id);
    expect(logo?.bytes.equals(tinyPng)).toBe(true);

    const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>';
    const asSvg = await api.call('PUT', url, { body: svg, headers: { 'content-type': 'image/svg+xml' } });
    expect(asSvg.statusCode, asSvg.body).toBe(415);
    expect(asSvg.json<{ code: string }>().code).toBe('unsupported_media_type');
    const disguised = await api.call('PUT', url, { body: svg, headers: { 'content-type': 'image/png' } });
    expect(disguised.statusCode, disguised.body).toBe(400);
    expect(disguised.json<{ code: string }>().code).toBe('invalid_image');
    const big = Buffer.concat([tinyPng, Buffer.alloc(256 * 1024)]);
    const tooBig = await api.call('PUT', url, { body: big, headers: { 'content-type': 'image/png' } });
    expect(tooBig.statusCode, tooBig.body).toBe(413);
    expect((await api.services.portal.logo(b.id))?.bytes.equals(tinyPng)).toBe(true);
  });

  it('shows no site for a suspended domain', async () => {
    const c = await createDomainWithKey(api.call, { slug: unique('pc') });
    const host = `portal.${backend.name}.c.example`;
    expect(
      (await api.call('PUT', `/v1/domains/${c.id}/portal`, { body: { hosts: [host], displayName: 'C' } }))
        .statusCode,
    ).toBe(200);
    expect(await api.services.portal.site(host)).not.toBeNull();
    expect((await api.call('POST', `/v1/domains/${c.id}/suspend`)).statusCode).toBe(200);
    expect(await api.services.portal.site(host)).toBeNull();
  });
});
