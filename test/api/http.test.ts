// The HTTP API on both store backends: behaviour, every kind of bad input, and attacks across domains.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { asOwner, backends } from '../helpers/backends.js';
import { openTestApi, operatorToken, type TestApi } from '../helpers/api.js';

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  requestId: string;
  errors?: { path: string; code: string }[];
}

const unknownDomain = 'dom_00000000000000000000000000';
const unknownKey = 'key_00000000000000000000000000';

function problem(res: LightMyRequestResponse, status: number, code: string): Problem {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<Problem>();
  expect(body.code).toBe(code);
  expect(body.status).toBe(status);
  expect(body.requestId).toBe(res.headers['x-request-id']);
  expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
  return body;
}

/** The body and headers of a response with its request id taken out, to compare two answers. */
function comparable(res: LightMyRequestResponse) {
  const { requestId: _r, ...body } = res.json<Problem>();
  const { 'x-request-id': _x, date: _d, ratelimit, ...headers } = res.headers;
  // The caller's own rate state moves with every request it makes, whatever the target: its shape is
  // compared, not the counts.
  const rate = typeof ratelimit === 'string' ? ratelimit.replace(/r=\d+;t=\d+$/, 'r=…;t=…') : ratelimit;
  return { status: res.statusCode, body, headers: { ...headers, ratelimit: rate } };
}

let seq = 0;
const slug = (base = 'acme') => `${base}-${process.pid}-${++seq}`;

describe.each(backends)('API on $name', (backend) => {
  let api: TestApi;

  beforeAll(async () => {
    api = await openTestApi(backend);
  });
  afterAll(async () => {
    await api.close();
  });

  async function createDomain(base?: string): Promise<{ id: string; slug: string }> {
    const res = await api.call('POST', '/v1/domains', { body: { slug: slug(base), name: 'A Domain' } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  async function issueKey(domainId: string, body: unknown = {}): Promise<{ id: string; key: string }> {
    const res = await api.call('POST', `/v1/domains/${domainId}/keys`, { body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  /** Everything the store holds, to prove a refused request wrote nothing. */
  async function snapshot() {
    return asOwner(api.services.store, async (db) => ({
      domains: await db.selectFrom('domains').selectAll().orderBy('id').execute(),
      keys: await db.selectFrom('provisioning_keys').selectAll().orderBy('id').execute(),
    }));
  }

  describe('domains', () => {
    it('creates, shows, lists, suspends, resumes and deletes', async () => {
      const s = slug('Life');
      const created = await api.call('POST', '/v1/domains', { body: { slug: s, name: 'Acme Inc' } });
      expect(created.statusCode).toBe(201);
      const d = created.json<{ id: string; slug: string; status: string }>();
      expect(d).toMatchObject({ slug: s.toLowerCase(), status: 'active' });
      expect(created.headers['location']).toBe(`/v1/domains/${d.id}`);

      expect((await api.call('GET', `/v1/domains/${d.id}`)).json()).toMatchObject({
        id: d.id,
        name: 'Acme Inc',
      });
      const listed = await api.call('GET', `/v1/domains?slug=${s.toUpperCase()}`);
      expect(listed.json<{ items: { id: string }[] }>().items.map((x) => x.id)).toEqual([d.id]);

      expect((await api.call('POST', `/v1/domains/${d.id}/suspend`)).json()).toMatchObject({
        status: 'suspended',
      });
      expect((await api.call('POST', `/v1/domains/${d.id}/resume`)).json()).toMatchObject({
        status: 'active',
      });
      expect((await api.call('DELETE', `/v1/domains/${d.id}`)).json()).toMatchObject({ status: 'deleted' });
      problem(await api.call('POST', `/v1/domains/${d.id}/resume`), 409, 'domain_deleted');
      const all = await api.call('GET', '/v1/domains?includeDeleted=true&limit=500');
      expect(all.json<{ items: { id: string }[] }>().items.map((x) => x.id)).toContain(d.id);
      const live = await api.call('GET', '/v1/domains?limit=500');
      expect(live.json<{ items: { id: string }[] }>().items.map((x) => x.id)).not.toContain(d.id);
    });

    it('refuses a slug taken under another case with 409', async () => {
      const s = slug('Case');
      await api.call('POST', '/v1/domains', { body: { slug: s, name: 'one' } });
      problem(
        await api.call('POST', '/v1/domains', { body: { slug: s.toUpperCase(), name: 'two' } }),
        409,
        'slug_taken',
      );
    });

    it.each([
      ['аcme-cyrillic', 'slug_confusable'],
      ['xn--acme', 'slug_confusable'],
      ['ab', 'slug_length'],
      ['admin', 'slug_reserved'],
      ['ac_me', 'invalid_slug'],
      ['-acme', 'invalid_slug'],
    ])('refuses the slug %j with %s', async (bad, code) => {
      problem(await api.call('POST', '/v1/domains', { body: { slug: bad, name: 'x' } }), 400, code);
    });

    it('answers 404 for an unknown domain, and 400 for a malformed id', async () => {
      problem(await api.call('GET', `/v1/domains/${unknownDomain}`), 404, 'not_found');
      for (const bad of [
        'dom_xyz',
        'acme',
        'dom_0000000000000000000000000I',
        '..%2F..%2Fetc',
        `${unknownDomain}x`,
      ]) {
        const body = problem(await api.call('GET', `/v1/domains/${bad}`), 400, 'invalid_id');
        expect(body.errors?.[0]?.path).toBe('/path/domainId');
      }
      problem(await api.call('DELETE', `/v1/domains/${unknownDomain}/keys/nokey`), 400, 'invalid_id');
    });
  });

  describe('bad input is refused precisely and writes nothing', () => {
    const cases: [string, { method: string; url: string; body?: string; type?: string }, number, string][] = [
      [
        'malformed JSON',
        { method: 'POST', url: '/v1/domains', body: '{"slug": "x",' },
        400,
        'malformed_json',
      ],
      ['an empty JSON body', { method: 'POST', url: '/v1/domains', body: '' }, 400, 'malformed_json'],
      [
        'a __proto__ key',
        { method: 'POST', url: '/v1/domains', body: '{"slug":"protox","name":"x","__proto__":{"a":1}}' },
        400,
        'malformed_json',
      ],
      [
        'an unknown field',
        { method: 'POST', url: '/v1/domains', body: '{"slug":"fieldx","name":"x","domainId":"dom_1"}' },
        400,
        'unknown_field',
      ],
      [
        'a wrong type',
        { method: 'POST', url: '/v1/domains', body: '{"slug":12345,"name":"x"}' },
        400,
        'invalid_type',
      ],
      [
        'a boolean for a string',
        { method: 'POST', url: '/v1/domains', body: '{"slug":"typex","name":true}' },
        400,
        'invalid_type',
      ],
      [
        'a missing field',
        { method: 'POST', url: '/v1/domains', body: '{"slug":"missx"}' },
        400,
        'missing_field',
      ],
      ['an array body', { method: 'POST', url: '/v1/domains', body: '[]' }, 400, 'invalid_type'],
      [
        'a control character in the name',
        { method: 'POST', url: '/v1/domains', body: '{"slug":"ctrlx","name":"a\\u0000b"}' },
        400,
        'invalid_request',
      ],
      [
        'an oversized body',
        {
          method: 'POST',
          url: '/v1/domains',
          body: JSON.stringify({ slug: 'bigx', name: 'x'.repeat(70_000) }),
        },
        413,
        'body_too_large',
      ],
      [
        'a non-JSON content type',
        { method: 'POST', url: '/v1/domains', body: 'slug=x', type: 'application/x-www-form-urlencoded' },
        415,
        'unsupported_media_type',
      ],
      [
        'an unknown query parameter',
        { method: 'GET', url: '/v1/domains?tenant=dom_1' },
        400,
        'unknown_field',
      ],
      ['a non-numeric limit', { method: 'GET', url: '/v1/domains?limit=lots' }, 400, 'invalid_type'],
      ['an out-of-range limit', { method: 'GET', url: '/v1/domains?limit=0' }, 400, 'invalid_request'],
      [
        'an unknown scope',
        { method: 'POST', url: '/v1/domains/{A}/keys', body: '{"scopes":["mainframe"]}' },
        400,
        'invalid_request',
      ],
      [
        'a bad expiry',
        { method: 'POST', url: '/v1/domains/{A}/keys', body: '{"expiresAt":"tomorrow"}' },
        400,
        'invalid_timestamp',
      ],
      [
        'an expiry in the past',
        { method: 'POST', url: '/v1/domains/{A}/keys', body: '{"expiresAt":"2001-01-01T00:00:00Z"}' },
        400,
        'invalid_request',
      ],
      [
        'a negative overlap',
        { method: 'POST', url: '/v1/domains/{A}/keys/{K}/rotate', body: '{"overlapSeconds":-5}' },
        400,
        'invalid_request',
      ],
      [
        'a fractional overlap',
        { method: 'POST', url: '/v1/domains/{A}/keys/{K}/rotate', body: '{"overlapSeconds":1.5}' },
        400,
        'invalid_type',
      ],
      ['a bad key id', { method: 'DELETE', url: '/v1/domains/{A}/keys/key_!!' }, 400, 'invalid_id'],
    ];

    it.each(cases)('%s', async (_name, req, status, code) => {
      const a = await createDomain('bad');
      const k = await issueKey(a.id);
      const before = await snapshot();
      const auditBefore = (await asOwner(api.services.store, (tx) => listAudit(tx, { limit: 100_000 })))
        .length;
      const res = await api.app.inject({
        method: req.method as 'POST',
        url: req.url.replace('{A}', a.id).replace('{K}', k.id),
        headers: {
          authorization: `Bearer ${operatorToken}`,
          ...(req.body === undefined ? {} : { 'content-type': req.type ?? 'application/json' }),
        },
        ...(req.body === undefined ? {} : { payload: req.body }),
      });
      problem(res, status, code);
      expect(await snapshot()).toEqual(before);
      expect((await asOwner(api.services.store, (tx) => listAudit(tx, { limit: 100_000 }))).length).toBe(
        auditBefore,
      );
    });
  });

  describe('credentials', () => {
    it('asks for credentials, refuses a wrong operator token and logs the attempt', async () => {
      problem(await api.call('GET', '/v1/domains', { token: null }), 401, 'unauthenticated');
      const res = await api.call('GET', '/v1/domains', {
        token: null,
        headers: { authorization: 'Basic dXNlcjpwYXNz' },
      });
      problem(res, 401, 'invalid_credentials');
      problem(await api.call('GET', '/v1/domains', { token: 'x'.repeat(40) }), 401, 'invalid_credentials');
      problem(
        await api.call('GET', '/v1/domains', { token: `${operatorToken} extra` }),
        401,
        'invalid_credentials',
      );
      const denied = await asOwner(api.services.store, (tx) =>
        listAudit(tx, { action: 'operator.authenticate', limit: 1000 }),
      );
      expect(denied.length).toBeGreaterThanOrEqual(2);
      expect(JSON.stringify(denied)).not.toContain('x'.repeat(40));
    });

    it('answers whoami for a key with its domain, and for the operator', async () => {
      const a = await createDomain();
      const k = await issueKey(a.id, { scopes: ['postgres'] });
      const res = await api.call('GET', '/v1/whoami', { token: k.key });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        credential: 'provisioning_key',
        domainId: a.id,
        slug: a.slug,
        keyId: k.id,
        subject: null,
        sessionId: null,
        role: null,
        scopes: ['postgres'],
      });
      expect((await api.call('GET', '/v1/whoami')).json()).toMatchObject({
        credential: 'operator',
        domainId: null,
      });
    });

    it('refuses every bad key with the same 401, body and headers alike', async () => {
      const a = await createDomain('keys');
      const good = await issueKey(a.id);
      const revoked = await issueKey(a.id);
      await api.call('DELETE', `/v1/domains/${a.id}/keys/${revoked.id}`);
      const suspendedDomain = await createDomain('susp');
      const suspendedKey = await issueKey(suspendedDomain.id);
      await api.call('POST', `/v1/domains/${suspendedDomain.id}/suspend`);
      const deletedDomain = await createDomain('gone');
      const deletedKey = await issueKey(deletedDomain.id);
      await api.call('DELETE', `/v1/domains/${deletedDomain.id}`);
      const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);

      const bad = {
        revoked: revoked.key,
        suspendedDomain: suspendedKey.key,
        deletedDomain: deletedKey.key,
        badChecksum: flip(good.key, good.key.length - 1),
        typo: flip(good.key, 10),
        tooShort: good.key.slice(0, -2),
        tooLong: `${good.key}AA`,
        wrongPrefix: `bhx_${good.key.slice(4)}`,
        badCharset: `${good.key.slice(0, 8)}-${good.key.slice(9)}`,
        unknown: `bhk_${'A'.repeat(43)}_000000`,
      };
      const answers = [];
      for (const [, key] of Object.entries(bad)) {
        const res = await api.call('GET', '/v1/whoami', { token: key });
        problem(res, 401, 'invalid_credentials');
        answers.push(comparable(res));
      }
      for (const answer of answers) expect(answer).toEqual(answers[0]);
      expect((await api.call('GET', '/v1/whoami', { token: good.key })).statusCode).toBe(200);
    });

    it('stops a revoked key on the very next request', async () => {
      const a = await createDomain();
      const k = await issueKey(a.id);
      expect((await api.call('GET', '/v1/whoami', { token: k.key })).statusCode).toBe(200);
      const revoked = await api.call('DELETE', `/v1/domains/${a.id}/keys/${k.id}`);
      expect(revoked.json<{ revokedAt: string | null }>().revokedAt).toMatch(/^\d{4}-/);
      problem(await api.call('GET', '/v1/whoami', { token: k.key }), 401, 'invalid_credentials');
    });

    it('rotates: both keys work during the overlap, and the listing shows when the old one ends', async () => {
      const a = await createDomain();
      const k = await issueKey(a.id);
      const res = await api.call('POST', `/v1/domains/${a.id}/keys/${k.id}/rotate`, {
        body: { overlapSeconds: 600 },
      });
      expect(res.statusCode).toBe(201);
      const { key, previous } = res.json<{
        key: { id: string; key: string };
        previous: { expiresAt: string };
      }>();
      expect(new Date(previous.expiresAt).getTime() - Date.now()).toBeGreaterThan(590_000);
      expect((await api.call('GET', '/v1/whoami', { token: k.key })).statusCode).toBe(200);
      expect((await api.call('GET', '/v1/whoami', { token: key.key })).statusCode).toBe(200);
      const listed = await api.call('GET', `/v1/domains/${a.id}/keys`);
      expect(listed.body).not.toContain(k.key);
      expect(listed.body).not.toContain(key.key);
      expect(listed.json<{ items: { id: string; expiresAt: string | null }[] }>().items).toEqual([
        expect.objectContaining({ id: k.id, expiresAt: previous.expiresAt }),
        expect.objectContaining({ id: key.id, expiresAt: null }),
      ]);
    });
  });

  describe("domain A's key against domain B", () => {
    let a: { id: string };
    let b: { id: string };
    let aKey: { id: string; key: string };
    let bKey: { id: string; key: string };

    beforeAll(async () => {
      a = await createDomain('tenant-a');
      b = await createDomain('tenant-b');
      aKey = await issueKey(a.id);
      bKey = await issueKey(b.id);
    });

    it("reads its own domain and keys, and gets B's exactly as if B did not exist", async () => {
      expect((await api.call('GET', `/v1/domains/${a.id}`, { token: aKey.key })).statusCode).toBe(200);
      expect((await api.call('GET', `/v1/domains/${a.id}/keys`, { token: aKey.key })).statusCode).toBe(200);
      for (const path of ['', '/keys']) {
        const foreign = await api.call('GET', `/v1/domains/${b.id}${path}`, { token: aKey.key });
        const absent = await api.call('GET', `/v1/domains/${unknownDomain}${path}`, { token: aKey.key });
        problem(foreign, 404, 'not_found');
        expect(comparable(foreign)).toEqual(comparable(absent));
        expect(foreign.body).not.toContain(bKey.id);
      }
    });

    it('audits the cross-domain attempt with both domains', async () => {
      await api.call('GET', `/v1/domains/${b.id}/keys`, { token: aKey.key });
      const events = await asOwner(api.services.store, (tx) =>
        listAudit(tx, {
          action: 'access.cross_domain',
          domainId: a.id,
          limit: 1000,
        }),
      );
      expect(events.at(-1)).toMatchObject({ actor: `key:${aKey.id}`, target: b.id, outcome: 'denied' });
    });

    it('cannot change anything of B, whatever route it tries', async () => {
      const before = await snapshot();
      const attempts: [string, string, unknown?][] = [
        ['POST', `/v1/domains/${b.id}/keys`, {}],
        ['DELETE', `/v1/domains/${b.id}/keys/${bKey.id}`],
        ['POST', `/v1/domains/${b.id}/keys/${bKey.id}/rotate`, {}],
        ['POST', `/v1/domains/${b.id}/suspend`],
        ['POST', `/v1/domains/${b.id}/resume`],
        ['DELETE', `/v1/domains/${b.id}`],
        ['POST', '/v1/domains', { slug: slug('smuggled'), name: 'x' }],
        ['GET', '/v1/domains'],
        ['GET', '/v1/audit'],
        ['GET', `/v1/audit?domainId=${b.id}`],
        ['GET', '/v1/audit/verify'],
      ];
      for (const [method, url, body] of attempts) {
        const res = await api.call(method, url, { token: aKey.key, body });
        expect([403, 404], `${method} ${url}`).toContain(res.statusCode);
        expect(res.body).not.toContain(bKey.id);
      }
      // Refusals that do not depend on the target are the same for B as for a domain that does not exist.
      const onB = await api.call('POST', `/v1/domains/${b.id}/suspend`, { token: aKey.key });
      const onNothing = await api.call('POST', `/v1/domains/${unknownDomain}/suspend`, { token: aKey.key });
      expect(comparable(onB)).toEqual(comparable(onNothing));
      // Only A's own key changed: its last use.
      const after = await snapshot();
      const withoutAUse = (snap: typeof before) => ({
        ...snap,
        keys: snap.keys.map((k) => (k.id === aKey.id ? { ...k, last_used_at: null } : k)),
      });
      expect(withoutAUse(after)).toEqual(withoutAUse(before));
      expect((await api.call('GET', '/v1/whoami', { token: bKey.key })).statusCode).toBe(200);
    });

    it('cannot name another domain in the body or query to act there', async () => {
      const res = await api.call('POST', `/v1/domains/${a.id}/keys`, {
        token: aKey.key,
        body: { domainId: b.id },
      });
      expect([400, 403]).toContain(res.statusCode);
      const who = await api.call('GET', `/v1/whoami?domainId=${b.id}`, { token: aKey.key });
      problem(who, 400, 'unknown_field');
      const header = await api.call('GET', '/v1/whoami', {
        token: aKey.key,
        headers: { 'x-domain-id': b.id },
      });
      expect(header.json()).toMatchObject({ domainId: a.id });
    });

    it("cannot use B's key ids through A's path as the operator either", async () => {
      problem(await api.call('DELETE', `/v1/domains/${a.id}/keys/${bKey.id}`), 404, 'not_found');
      const absent = await api.call('DELETE', `/v1/domains/${a.id}/keys/${unknownKey}`);
      expect(comparable(await api.call('DELETE', `/v1/domains/${a.id}/keys/${bKey.id}`))).toEqual(
        comparable(absent),
      );
      expect((await api.call('GET', '/v1/whoami', { token: bKey.key })).statusCode).toBe(200);
    });
  });

  describe('audit API', () => {
    it('lists events by domain and action and verifies the chain', async () => {
      const a = await createDomain('audited');
      await issueKey(a.id);
      const res = await api.call('GET', `/v1/audit?domainId=${a.id}`);
      expect(res.json<{ items: { action: string }[] }>().items.map((e) => e.action)).toEqual([
        'domain.create',
        'key.issue',
      ]);
      const byAction = await api.call('GET', `/v1/audit?domainId=${a.id}&action=key.issue`);
      expect(byAction.json<{ items: unknown[] }>().items).toHaveLength(1);
      const future = await api.call(
        'GET',
        `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      );
      expect(future.json<{ items: unknown[] }>().items).toEqual([]);
      const verify = await api.call('GET', '/v1/audit/verify');
      expect(verify.json()).toMatchObject({ ok: true });
    });
  });

  describe('protocol', () => {
    it('puts a request id on every response, including errors and unknown routes', async () => {
      const responses = [
        await api.call('GET', '/healthz', { token: null }),
        await api.call('GET', '/nowhere'),
        await api.call('GET', '/v1/domains', { token: null }),
        await api.call('POST', '/v1/domains', { body: '{' }),
      ];
      const ids = responses.map((r) => r.headers['x-request-id']);
      for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{32}$/);
      expect(new Set(ids).size).toBe(ids.length);
      problem(responses[1]!, 404, 'not_found');
    });

    it('ignores a request id sent by the client', async () => {
      const res = await api.call('GET', '/healthz', {
        token: null,
        headers: { 'x-request-id': 'evil\nvalue' },
      });
      expect(res.headers['x-request-id']).toMatch(/^req_/);
    });

    it('answers health and readiness without credentials', async () => {
      expect((await api.call('GET', '/healthz', { token: null })).json()).toEqual({ status: 'ok' });
      expect((await api.call('GET', '/readyz', { token: null })).json()).toEqual({ status: 'ready' });
    });

    it('publishes an OpenAPI 3.1 document describing every operation', async () => {
      const doc = (await api.call('GET', '/openapi.json', { token: null })).json<{
        openapi: string;
        paths: Record<
          string,
          Record<string, { operationId?: string; security?: unknown; responses: Record<string, unknown> }>
        >;
        components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
      }>();
      expect(doc.openapi).toBe('3.1.0');
      const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.entries(ops).map(([m, op]) => ({ path, m, op })),
      );
      expect(operations.map((o) => o.op.operationId).sort()).toEqual(
        [
          'createDomain',
          'createResource',
          'deleteDomain',
          'deleteObject',
          'deleteResource',
          'getObject',
          'getPool',
          'getResource',
          'getResourceCredentials',
          'rotateResourceCredentials',
          'listResources',
          'putObject',
          'updatePool',
          'getDomainJwks',
          'createPrincipal',
          'listPrincipals',
          'getPrincipal',
          'disablePrincipal',
          'setPrincipalPassword',
          'setPrincipalRole',
          'deletePrincipal',
          'token',
          'revokeToken',
          'login',
          'listRevocations',
          'getRevocationFeedJwks',
          'logout',
          'revokeSession',
          'getJwks',
          'listSigningKeys',
          'rotateSigningKey',
          'getDomain',
          'healthz',
          'issueKey',
          'listAudit',
          'listDomains',
          'listKeys',
          'getKey',
          'readyz',
          'resumeDomain',
          'revokeKey',
          'rotateKey',
          'suspendDomain',
          'verifyAudit',
          'whoami',
          'createInstance',
          'listInstances',
          'getInstance',
          'deleteInstance',
          'createVolume',
          'listVolumes',
          'getVolume',
          'attachVolume',
          'detachVolume',
          'deleteVolume',
          'createGrant',
          'listGrants',
          'getGrant',
          'revokeGrant',
          'createBlueprint',
          'getBlueprint',
          'metrics',
          'probeProviderIsolation',
          'listVerifyRuns',
          'recordUsage',
          'listUsage',
          'setPrices',
          'getPrices',
          'closePeriod',
          'closeDomainPeriod',
          'listInvoices',
          'getInvoice',
          'payInvoice',
          'voidInvoice',
          'uncollectibleInvoice',
          'chargeInvoice',
          'getInvoicePdf',
          'getBillingDetails',
          'setBillingDetails',
          'createSetupIntent',
          'listPaymentMethods',
          'detachPaymentMethod',
          'stripeWebhook',
          'getOpenIdConfiguration',
          'getAuthorizationServerMetadata',
          'getAuthorizationServerMetadataInserted',
          'getIssuerJwks',
          'issuerToken',
          'issuerAuthorize',
          'issuerEndSession',
          'issuerTokenPreflight',
          'issuerUserinfo',
          'issuerUserinfoPost',
          'issuerUserinfoPreflight',
          'issuerRevoke',
          'issuerIntrospect',
          'createOAuthClient',
          'listOAuthClients',
          'getOAuthClient',
          'deleteOAuthClient',
          'getPortal',
          'putPortal',
          'putPortalLogo',
        ].sort(),
      );
      for (const { path, op } of operations) {
        // Public key sets are public by design, and Stripe's webhook is authenticated by its signature;
        // every other /v1 operation needs a credential.
        if (
          path.startsWith('/v1/') &&
          ![
            'getDomainJwks',
            'token',
            'revokeToken',
            'login',
            'listRevocations',
            'getRevocationFeedJwks',
            'stripeWebhook',
          ].includes(op.operationId ?? '')
        ) {
          // One requirement per credential kind the route accepts, each a declared scheme, none optional.
          const security = op.security as Record<string, string[]>[];
          expect(security.length, path).toBeGreaterThan(0);
          for (const requirement of security) {
            expect(Object.keys(requirement), path).toHaveLength(1);
            expect(doc.components.securitySchemes, path).toHaveProperty(Object.keys(requirement)[0]!);
          }
          expect(Object.keys(op.responses), path).toContain('4XX');
        } else if (
          [
            'getDomainJwks',
            'token',
            'revokeToken',
            'login',
            'getRevocationFeedJwks',
            'stripeWebhook',
            'healthz',
            'readyz',
            'getJwks',
          ].includes(op.operationId ?? '')
        ) {
          expect(op.security, `${path} is public`).toEqual([]);
        }
      }
      // Userinfo takes a domain's access token (RFC 6750), so generated clients and the prober send one.
      expect(doc.paths['/d/{slug}/userinfo']!['get']!.security).toEqual([{ accessToken: [] }]);
      expect(doc.paths['/d/{slug}/userinfo']!['post']!.security).toEqual([{ accessToken: [] }]);
      expect(doc.components.schemas).toHaveProperty('Problem');
    });
  });
});
