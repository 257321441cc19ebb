// The sign-in edge attacked as an anonymous caller would, on both stores: hostile names never make a
// 500, the failed-login limit holds under every spelling of an account, a cross-site page cannot sign a
// browser in, and a request that carries Host or Authorization twice is refused over real HTTP.
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';

const password = 'correct horse battery staple';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
/** The same text in full-width forms (U+FF01…U+FF5E), which NFKC maps back to ASCII. */
const fullWidth = (s: string) =>
  [...s].map((c) => (c > ' ' && c <= '~' ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('');

/** One HTTP/1.1 exchange written byte for byte, so headers can be repeated as a client would send them. */
function rawRequest(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`${head.split('\n').join('\r\n')}\r\nConnection: close\r\n\r\n`);
  });
}

describe.each(backends)('the sign-in edge on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let port: number;
  let d: { id: string; slug: string };
  let client: { clientId: string; clientSecret: string };
  let n = 0;

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url,
      headers,
      ...(typeof payload === 'string' ? { payload } : { payload: payload as object }),
    });
  // The Origin of the site that inject() calls by default (Host: localhost:80).
  const sameSite = { origin: 'http://localhost' };
  const token = (domain: string, username: string, pass: string) =>
    post('/v1/auth/token', { grant_type: 'password', domain, username, password: pass });
  const login = (domain: string, username: string, pass: string) =>
    post('/v1/auth/login', { domain, username, password: pass }, sameSite);
  async function newUser(): Promise<string> {
    const email = `user-${++n}@example.com`;
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${d.id}/principals`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { kind: 'user', email, password },
    });
    expect(res.statusCode, res.body).toBe(201);
    return email;
  }
  const sessionCount = () =>
    asOwner(services.store, (tx) =>
      tx
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('domain_id', '=', d.id)
        .executeTakeFirstOrThrow(),
    ).then((r) => Number(r.n));

  beforeAll(async () => {
    services = await openTestServices(backend);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    d = await services.domains.create(
      { actor: 'operator', requestId: null },
      { slug: `edge-${process.pid}`, name: 'edge' },
    );
    const created = await app.inject({
      method: 'POST',
      url: `/v1/domains/${d.id}/principals`,
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { kind: 'service' },
    });
    client = created.json();
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  describe('hostile names', () => {
    it.each([
      ['a NUL in the username of the password grant', () => token(d.slug, 'a\u0000@example.com', password)],
      [
        'a NUL in the domain of the password grant',
        () => token(`${d.slug}\u0000`, 'a@example.com', password),
      ],
      [
        'a NUL in a form-encoded username',
        () => post('/v1/auth/token', `grant_type=password&domain=${d.slug}&username=a%00b&password=x`, form),
      ],
      ['a NUL in the username of a login', () => login(d.slug, 'a\u0000@example.com', password)],
      ['a NUL in the domain of a login', () => login(`\u0000${d.slug}`, 'a@example.com', password)],
      ['a lone surrogate in the username', () => token(d.slug, 'a\ud800@example.com', password)],
      [
        'a NUL in client_id',
        () =>
          post('/v1/auth/token', {
            grant_type: 'client_credentials',
            client_id: `${client.clientId}\u0000`,
            client_secret: client.clientSecret,
          }),
      ],
      [
        'a NUL in a form-encoded client_id',
        () =>
          post(
            '/v1/auth/token',
            `grant_type=client_credentials&client_id=bhc_%00&client_secret=${client.clientSecret}`,
            form,
          ),
      ],
      // Text the store cannot hold is refused by the rule every field of every operation shares
      // (src/http/validation.ts), before the route looks at it.
    ])('answers %s with 400 invalid_text', async (_name, send) => {
      const res = await send();
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_text' });
    });

    it.each([
      [
        'Basic credentials whose percent-encoding does not decode',
        () =>
          post('/v1/auth/token', 'grant_type=client_credentials', {
            ...form,
            authorization: 'Basic JUUwJUE0JUE6JQ==',
          }),
      ],
      [
        'Basic credentials that are not base64',
        () =>
          post('/v1/auth/token', 'grant_type=client_credentials', { ...form, authorization: 'Basic a===' }),
      ],
      [
        'Basic credentials without a colon',
        () =>
          post('/v1/auth/token', 'grant_type=client_credentials', {
            ...form,
            authorization: `Basic ${Buffer.from(client.clientId).toString('base64')}`,
          }),
      ],
      [
        'Basic credentials naming a NUL',
        () =>
          post('/v1/auth/token', 'grant_type=client_credentials', {
            ...form,
            authorization: `Basic ${Buffer.from(`%00:${client.clientSecret}`).toString('base64')}`,
          }),
      ],
    ])('answers %s with 401 invalid_client', async (_name, send) => {
      const res = await send();
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ code: 'invalid_client' });
    });

    it('still takes a client id in another spelling, and form-encoded Basic credentials', async () => {
      const basic = Buffer.from(
        `${encodeURIComponent(fullWidth(client.clientId.toUpperCase()))}:${encodeURIComponent(client.clientSecret)}`,
      ).toString('base64');
      const res = await post('/v1/auth/token', 'grant_type=client_credentials', {
        ...form,
        authorization: `Basic ${basic}`,
      });
      expect(res.statusCode, res.body).toBe(200);
    });
  });

  describe('one account, one limit', () => {
    // Every spelling below names the same account: the lookup would find it, so the limit must too.
    const spellings = (email: string) => [
      { domain: d.slug, username: ` ${email}` },
      { domain: d.slug, username: `${email}\t` },
      { domain: d.slug, username: email.toUpperCase() },
      { domain: d.slug, username: fullWidth(email) },
      { domain: d.id, username: email },
      { domain: d.id.toUpperCase(), username: email },
      { domain: ` ${fullWidth(d.slug)}`, username: email },
      { domain: d.slug.toUpperCase(), username: `\u3000${fullWidth(email.toUpperCase())}` },
    ];

    it('keeps a locked account locked under every spelling, on the token endpoint and at login', async () => {
      const email = await newUser();
      for (const s of spellings(email))
        expect((await token(s.domain, s.username, password)).statusCode).toBe(200);
      for (let i = 0; i < 10; i++) expect((await token(d.slug, email, 'wrong guess')).statusCode).toBe(400);
      expect((await token(d.slug, email, password)).statusCode).toBe(429);
      for (const s of spellings(email)) {
        const viaToken = await token(s.domain, s.username, password);
        expect(viaToken.statusCode, JSON.stringify(s)).toBe(429);
        expect(Number(viaToken.headers['retry-after'])).toBeGreaterThan(0);
        const before = await sessionCount();
        const viaLogin = await login(s.domain, s.username, password);
        expect(viaLogin.statusCode, JSON.stringify(s)).toBe(429);
        expect(viaLogin.headers['set-cookie']).toBeUndefined();
        expect(await sessionCount()).toBe(before);
      }
      // The lock is the account's, not the address's: another account signs in from the same address.
      const other = await newUser();
      expect((await token(d.slug, other, password)).statusCode).toBe(200);
    });

    it('counts failures under different spellings against the one account', async () => {
      const email = await newUser();
      const all = spellings(email);
      for (let i = 0; i < 10; i++) {
        const s = all[i % all.length]!;
        const send = i % 2 === 0 ? token : login;
        expect((await send(s.domain, s.username, 'wrong guess')).statusCode).toBe(400);
      }
      expect((await token(d.slug, email, password)).statusCode).toBe(429);
      expect((await login(d.id, email, password)).statusCode).toBe(429);
    });

    it('counts a client id under every spelling as one client', async () => {
      const created = await app.inject({
        method: 'POST',
        url: `/v1/domains/${d.id}/principals`,
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { kind: 'service' },
      });
      const svc = created.json<{ clientId: string; clientSecret: string }>();
      const attempt = (clientId: string, secret: string) =>
        post('/v1/auth/token', {
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: secret,
        });
      const ids = [svc.clientId, ` ${svc.clientId}`, svc.clientId.toUpperCase(), fullWidth(svc.clientId)];
      for (let i = 0; i < 10; i++)
        expect((await attempt(ids[i % ids.length]!, 'wrong')).statusCode).toBe(401);
      for (const id of ids) expect((await attempt(id, svc.clientSecret)).statusCode, id).toBe(429);
    });
  });

  describe('login CSRF', () => {
    it('refuses a cross-site or Origin-less sign-in that would set a cookie, and sets none', async () => {
      const email = await newUser();
      const body = `domain=${d.slug}&username=${encodeURIComponent(email)}&password=${encodeURIComponent(password)}`;
      const before = await sessionCount();
      for (const headers of [
        { ...form, origin: 'http://evil.test' },
        { ...form, origin: 'null' },
        { ...form, origin: 'http://localhost.evil.test' },
        { ...form, origin: 'https://localhost' },
        form,
        { 'content-type': 'application/json' },
      ]) {
        const res = await post(
          '/v1/auth/login',
          headers['content-type'] === 'application/json'
            ? JSON.stringify({ domain: d.slug, username: email, password })
            : body,
          headers,
        );
        expect(res.statusCode, JSON.stringify(headers)).toBe(403);
        expect(res.json()).toMatchObject({ code: 'csrf_rejected' });
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect(await sessionCount()).toBe(before);
      const ok = await post('/v1/auth/login', body, { ...form, ...sameSite });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(String(ok.headers['set-cookie'])).toMatch(/^__Host-bulkhead_session=/);
      // A client that asks for a token, not a cookie, needs no Origin.
      expect((await token(d.slug, email, password)).statusCode).toBe(200);
    });
  });

  describe('headers a request may carry once', () => {
    let accessToken: string;
    beforeAll(async () => {
      const email = await newUser();
      accessToken = (await token(d.slug, email, password)).json<{ access_token: string }>().access_token;
    });

    it('answers a request with one Host and one Authorization', async () => {
      const res = await rawRequest(
        port,
        `GET /v1/whoami HTTP/1.1\nHost: 127.0.0.1:${port}\nAuthorization: Bearer ${accessToken}`,
      );
      expect(res.status, res.body).toBe(200);
    });

    it.each([
      ['Host', (t: string, p: number) => `Host: 127.0.0.1:${p}\nHost: evil.test\nAuthorization: Bearer ${t}`],
      [
        'Host, spelt differently',
        (t: string, p: number) => `host: 127.0.0.1:${p}\nHOST: 127.0.0.1:${p}\nAuthorization: Bearer ${t}`,
      ],
      [
        'Authorization',
        (t: string, p: number) =>
          `Host: 127.0.0.1:${p}\nAuthorization: Bearer ${t}\nAuthorization: Bearer x.y.z`,
      ],
      [
        'Authorization, the same twice',
        (t: string, p: number) =>
          `Host: 127.0.0.1:${p}\nAuthorization: Bearer ${t}\nauthorization: Bearer ${t}`,
      ],
    ])('refuses a request that carries %s twice with 400 duplicate_header', async (_name, headers) => {
      for (const route of ['GET /v1/whoami', 'GET /healthz']) {
        const res = await rawRequest(port, `${route} HTTP/1.1\n${headers(accessToken, port)}`);
        expect(res.status, res.body).toBe(400);
        expect(JSON.parse(res.body)).toMatchObject({ code: 'duplicate_header' });
      }
      const still = await rawRequest(
        port,
        `GET /v1/whoami HTTP/1.1\nHost: 127.0.0.1:${port}\nAuthorization: Bearer ${accessToken}`,
      );
      expect(still.status).toBe(200);
    });
  });

  // Last: its failures fill the address's count, and the lookups it makes must still never fail.
  describe('generated hostile names', () => {
    const hostile = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({
        unit: fc.constantFrom(
          '\u0000',
          '\ud800',
          '\udfff',
          'a',
          '@',
          ' ',
          'Ａ',
          '%',
          '+',
          ':',
          '\n',
          'ﷺ',
          'ß',
        ),
        maxLength: 40,
      }),
    );
    it('answers generated usernames, domains, client ids and Basic headers with a 4xx problem (an OAuth error on the token endpoint), never a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('token', 'login', 'client', 'basic'),
          hostile,
          hostile,
          async (where, x, y) => {
            const res =
              where === 'token'
                ? await token(x || 'x', y || 'y', password)
                : where === 'login'
                  ? await login(x || 'x', y || 'y', password)
                  : where === 'client'
                    ? await post('/v1/auth/token', {
                        grant_type: 'client_credentials',
                        client_id: x || 'x',
                        client_secret: y || 'y',
                      })
                    : await post('/v1/auth/token', 'grant_type=client_credentials', {
                        ...form,
                        authorization: `Basic ${Buffer.from(`${x}:${y}`).toString('base64')}${y.length % 2 === 0 ? '' : x}`,
                      });
            expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
            expect(res.statusCode, res.body).toBeLessThan(500);
            if (where === 'login') {
              expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
            } else {
              // The token endpoint answers as RFC 6749 §5.2 says (issue 22), with Bulkhead's code beside it.
              expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
              const { error, code } = res.json<{ error: unknown; code: unknown }>();
              expect(['invalid_request', 'invalid_grant', 'invalid_client']).toContain(error);
              expect(typeof code).toBe('string');
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
