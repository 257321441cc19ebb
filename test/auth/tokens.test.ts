// Principals, the token endpoint and access-token verification, on both stores. Every forged, foreign
// or stale token gets the same 401 as garbage, and nothing else reveals why.
import { createHmac, randomUUID, sign } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { canonicalDomainRef, canonicalEmail } from '../../src/identity/names.js';
import { audienceOf } from '../../src/identity/tokens.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { comparable } from '../helpers/tenants.js';

const issuer = 'https://bulkhead.test';
const password = 'correct horse battery staple';
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
let n = 0;
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/**
 * The same bytes spelt another way: the last character with a stray bit set in its unused low bits
 * (`w` → `x`), which a lenient decoder ignores. The part's bytes must not be a multiple of 3.
 */
function strayBits(part: string): string {
  expect(part.length % 4).not.toBe(0);
  return part.slice(0, -1) + alphabet[alphabet.indexOf(part.at(-1)!) + 1]!;
}
/** JSON padded with spaces until its bytes are not a multiple of 3, so its base64url has unused bits. */
function withUnusedBits(value: unknown): string {
  let text = JSON.stringify(value);
  while (Buffer.byteLength(text) % 3 === 0) text += ' ';
  return b64(text);
}

describe.each(backends)('access tokens on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let aToken: string;
  let bToken: string;
  let garbage: ReturnType<typeof comparable>;

  // No credential unless a call names one: these tests present tokens, cookies and raw headers themselves.
  const call = callerOf(() => app, { token: null });

  async function login(domain: string, user: string, pass: string) {
    return call('POST', '/v1/auth/token', {
      body: { grant_type: 'password', domain, username: user, password: pass },
    });
  }

  beforeAll(async () => {
    services = await openTestServices(backend, { issuer, accessTokenSeconds: 120 });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    const actor = { actor: 'operator', requestId: null };
    a = await services.domains.create(actor, { slug: `tok-a-${process.pid}`, name: 'a' });
    b = await services.domains.create(actor, { slug: `tok-b-${process.pid}`, name: 'b' });
    for (const d of [a, b]) {
      const res = await call('POST', `/v1/domains/${d.id}/principals`, {
        token: operatorToken,
        body: { kind: 'user', email: 'Ada@Example.com', password },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    aToken = (await login(a.slug, 'ada@example.com', password)).json<{ access_token: string }>().access_token;
    bToken = (await login(b.id, 'ADA@example.com', password)).json<{ access_token: string }>().access_token;
    garbage = comparable(await call('GET', '/v1/whoami', { headers: { authorization: 'Bearer x.y.z' } }));
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('gives the same email in two domains two principals with tokens of their own domain', async () => {
    const whoA = (await call('GET', '/v1/whoami', { token: aToken })).json<{
      credential: string;
      domainId: string;
      subject: string;
    }>();
    const whoB = (await call('GET', '/v1/whoami', { token: bToken })).json<{
      domainId: string;
      subject: string;
    }>();
    expect(whoA).toMatchObject({ credential: 'access_token', domainId: a.id });
    expect(whoB.domainId).toBe(b.id);
    expect(whoA.subject).not.toBe(whoB.subject);
    const [header, payload] = aToken
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(payload).toMatchObject({
      iss: issuer,
      aud: audienceOf(a.id),
      dom: a.id,
      sub: whoA.subject,
      client_id: 'bulkhead',
    });
    expect(Number(payload!['exp']) - Number(payload!['iat'])).toBe(120);
  });

  it('refuses a wrong password and an unknown user with the same answer, and limits failures', async () => {
    const wrong = await login(a.slug, 'ada@example.com', 'not the password');
    const unknown = await login(a.slug, 'nobody@example.com', 'not the password');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ code: 'invalid_grant' });
    expect(comparable(wrong)).toEqual(comparable(unknown));
    const name = `limited-${++n}@example.com`;
    for (let i = 0; i < 10; i++) expect((await login(a.slug, name, 'guess')).statusCode).toBe(400);
    const limited = await login(a.slug, name, 'guess');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('issues tokens to service accounts by client credentials, form-encoded or with HTTP Basic', async () => {
    const created = await call('POST', `/v1/domains/${a.id}/principals`, {
      token: operatorToken,
      body: { kind: 'service' },
    });
    const { clientId, clientSecret } = created.json<{ clientId: string; clientSecret: string }>();
    const form = await call('POST', '/v1/auth/token', {
      body: `grant_type=client_credentials&client_id=${clientId}&client_secret=${encodeURIComponent(clientSecret)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode, form.body).toBe(200);
    const basic = await call('POST', '/v1/auth/token', {
      body: 'grant_type=client_credentials',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect(basic.statusCode, basic.body).toBe(200);
    const who = await call('GET', '/v1/whoami', {
      token: basic.json<{ access_token: string }>().access_token,
    });
    expect(who.json()).toMatchObject({ domainId: a.id });
    const bad = await call('POST', '/v1/auth/token', {
      body: { grant_type: 'client_credentials', client_id: clientId, client_secret: 'wrong' },
    });
    expect(bad.json()).toMatchObject({ code: 'invalid_client' });
    expect((await call('POST', '/v1/auth/token', { body: { grant_type: 'implicit' } })).json()).toMatchObject(
      { code: 'unsupported_grant_type' },
    );
  });

  it('checks passwords and emails when creating users', async () => {
    const weak = await call('POST', `/v1/domains/${a.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'x@example.com', password: 'short' },
    });
    expect(weak.json()).toMatchObject({ code: 'weak_password' });
    const dup = await call('POST', `/v1/domains/${a.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'ADA@example.com', password },
    });
    expect(dup.json()).toMatchObject({ code: 'email_taken' });
    const bad = await call('POST', `/v1/domains/${a.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'not-an-email', password },
    });
    expect(bad.statusCode).toBe(400);
  });

  describe('forged and foreign tokens', () => {
    async function forge(
      header: Record<string, unknown>,
      claims: Record<string, unknown>,
      domainId = a.id,
    ): Promise<string> {
      const { privateKey } = await services.signingKeys.current(domainId);
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(privateKey);
    }
    async function valid() {
      const { kid } = await services.signingKeys.current(a.id);
      const payload = JSON.parse(Buffer.from(aToken.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      return { kid, payload };
    }

    it.each([
      'alg none',
      'alg None with a signature',
      'alg NONE',
      'HS256 signed with the published public key',
      'an embedded jwk header',
      'a jku header',
      'an x5u header',
      'kid with path traversal',
      'kid with SQL',
      'an unknown kid',
      'an unknown crit',
      'expired',
      'nbf in the future',
      'iat in the future',
      'a wrong issuer',
      "another domain's audience",
      'no typ',
      'a wrong typ',
      'the signature stripped',
      "another domain's key under this kid",
      'the payload edited',
      'an all-zero signature',
      'an oversized token',
      'stray bits in the last character of the signature',
      'a padded signature',
      'the signature in the base64 alphabet',
      'a validly signed header with stray bits',
      'a validly signed payload with stray bits',
      'a validly signed payload with padding',
      'a null jti',
      'an empty jti',
      'a numeric jti',
      'no jti',
    ])('refuses a token with %s exactly like garbage', async (attack) => {
      const { kid, payload } = await valid();
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: 'EdDSA', typ: 'at+jwt', kid };
      const [h, p, sig] = aToken.split('.') as [string, string, string];
      let token: string;
      switch (attack) {
        case 'alg none':
          token = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`;
          break;
        case 'alg None with a signature':
          token = `${b64({ alg: 'None', typ: 'at+jwt', kid })}.${p}.${sig}`;
          break;
        case 'alg NONE':
          token = `${b64({ alg: 'NONE', typ: 'at+jwt', kid })}.${p}.`;
          break;
        case 'HS256 signed with the published public key': {
          const jwk = (await call('GET', `/v1/domains/${a.id}/jwks.json`))
            .json<{ keys: { kid: string; x: string }[] }>()
            .keys.find((k) => k.kid === kid)!;
          const head = b64({ alg: 'HS256', typ: 'at+jwt', kid });
          const mac = createHmac('sha256', Buffer.from(jwk.x, 'base64url'))
            .update(`${head}.${p}`)
            .digest('base64url');
          token = `${head}.${p}.${mac}`;
          break;
        }
        case 'an embedded jwk header':
          token = await forge({ ...header, jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }, payload);
          break;
        case 'a jku header':
          token = await forge({ ...header, jku: 'https://evil.example/jwks.json' }, payload);
          break;
        case 'an x5u header':
          token = await forge({ ...header, x5u: 'https://evil.example/cert.pem' }, payload);
          break;
        case 'kid with path traversal':
          token = `${b64({ ...header, kid: '../../../../etc/passwd' })}.${p}.${sig}`;
          break;
        case 'kid with SQL':
          token = `${b64({ ...header, kid: "x' OR '1'='1" })}.${p}.${sig}`;
          break;
        case 'an unknown kid':
          token = `${b64({ ...header, kid: 'A'.repeat(43) })}.${p}.${sig}`;
          break;
        case 'an unknown crit': {
          // jose will not sign an unknown critical header, so sign the bytes with the real key directly.
          const { privateKey } = await services.signingKeys.current(a.id);
          const head = b64({ ...header, crit: ['exp2'], exp2: 1 });
          token = `${head}.${p}.${sign(null, Buffer.from(`${head}.${p}`), privateKey).toString('base64url')}`;
          break;
        }
        case 'expired':
          token = await forge(header, { ...payload, iat: now - 600, exp: now - 300 });
          break;
        case 'nbf in the future':
          token = await forge(header, { ...payload, nbf: now + 600 });
          break;
        case 'iat in the future':
          token = await forge(header, { ...payload, iat: now + 600, exp: now + 700 });
          break;
        case 'a wrong issuer':
          token = await forge(header, { ...payload, iss: 'https://evil.example' });
          break;
        case "another domain's audience":
          token = await forge(header, { ...payload, aud: audienceOf(b.id), dom: b.id });
          break;
        case 'no typ':
          token = await forge({ alg: 'EdDSA', kid }, payload);
          break;
        case 'a wrong typ':
          token = await forge({ ...header, typ: 'JWT' }, payload);
          break;
        case 'the signature stripped':
          token = `${h}.${p}.`;
          break;
        case "another domain's key under this kid":
          token = await forge(header, payload, b.id);
          break;
        case 'the payload edited':
          token = `${h}.${b64({ ...payload, sub: 'prn_00000000000000000000000000' })}.${sig}`;
          break;
        case 'an all-zero signature':
          token = `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`;
          break;
        case 'stray bits in the last character of the signature':
          token = `${h}.${p}.${strayBits(sig)}`;
          break;
        case 'a padded signature':
          token = `${h}.${p}.${sig}==`;
          break;
        case 'the signature in the base64 alphabet': {
          // A signature that has a `-` or `_` in it, spelt with `+` and `/` instead.
          let base = aToken;
          while (!/[-_]/.test(base.split('.')[2]!))
            base = await forge(header, { ...payload, jti: randomUUID() });
          const [bh, bp, bs] = base.split('.') as [string, string, string];
          token = `${bh}.${bp}.${bs.replaceAll('-', '+').replaceAll('_', '/')}`;
          break;
        }
        case 'a validly signed header with stray bits':
        case 'a validly signed payload with stray bits':
        case 'a validly signed payload with padding': {
          const { privateKey } = await services.signingKeys.current(a.id);
          let head = b64(header);
          let body = p;
          if (attack.includes('header')) head = strayBits(withUnusedBits(header));
          else if (attack.includes('stray')) body = strayBits(withUnusedBits(payload));
          else body = `${withUnusedBits(payload)}=`;
          token = `${head}.${body}.${sign(null, Buffer.from(`${head}.${body}`), privateKey).toString('base64url')}`;
          break;
        }
        case 'a null jti':
          token = await forge(header, { ...payload, jti: null });
          break;
        case 'an empty jti':
          token = await forge(header, { ...payload, jti: '' });
          break;
        case 'a numeric jti':
          token = await forge(header, { ...payload, jti: 7 });
          break;
        case 'no jti': {
          const { jti: _jti, ...rest } = payload;
          token = await forge(header, rest);
          break;
        }
        default:
          token = `${h}.${b64({ ...payload, pad: 'x'.repeat(5000) })}.${sig}`;
      }
      const res = await call('GET', '/v1/whoami', { token });
      expect(res.statusCode, res.body).toBe(401);
      expect(comparable(res)).toEqual(garbage);
    });

    it('answers a malformed or foreign-scheme Authorization header like garbage too', async () => {
      for (const header of [
        'Basic dXNlcjpwYXNz',
        'Bearer',
        `Bearer ${aToken} ${aToken}`,
        `bearer ${aToken}`,
      ]) {
        expect(
          comparable(await call('GET', '/v1/whoami', { headers: { authorization: header } })),
          header.slice(0, 20),
        ).toEqual(garbage);
      }
    });

    it("answers domain A's token on domain B's routes exactly as on a domain that does not exist", async () => {
      for (const path of ['', '/keys', '/resources', '/principals']) {
        const onB = await call('GET', `/v1/domains/${b.id}${path}`, { token: aToken });
        const onNothing = await call('GET', `/v1/domains/dom_00000000000000000000000000${path}`, {
          token: aToken,
        });
        expect(onB.statusCode).toBeGreaterThanOrEqual(400);
        expect(comparable(onB)).toEqual(comparable(onNothing));
      }
    });
  });

  it('rotates refresh tokens: each works once, and a reused one revokes the whole session', async () => {
    const first = (await login(a.slug, 'ada@example.com', password)).json<{
      access_token: string;
      refresh_token: string;
    }>();
    expect(first.refresh_token).toMatch(/^bhr_/);
    const refresh = (token: string) =>
      call('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: token } });
    // Parallel refreshes with the same token: exactly one wins.
    const racing = await Promise.all([
      refresh(first.refresh_token),
      refresh(first.refresh_token),
      refresh(first.refresh_token),
    ]);
    const winners = racing.filter((r) => r.statusCode === 200);
    expect(winners).toHaveLength(1);
    const second = winners[0]!.json<{ access_token: string; refresh_token: string }>();
    // The losers were reuses: the session and every token of it are now revoked.
    expect(comparable(await call('GET', '/v1/whoami', { token: second.access_token }))).toEqual(garbage);
    expect(comparable(await call('GET', '/v1/whoami', { token: first.access_token }))).toEqual(garbage);
    expect((await refresh(second.refresh_token)).json()).toMatchObject({ code: 'invalid_grant' });
    const reuse = await asOwner(services.store, (tx) =>
      tx.selectFrom('audit_events').select('action').where('action', '=', 'token.refresh_reuse').execute(),
    );
    expect(reuse.length).toBeGreaterThan(0);

    const fresh = (await login(a.slug, 'ada@example.com', password)).json<{
      access_token: string;
      refresh_token: string;
    }>();
    const next = await refresh(fresh.refresh_token);
    expect(next.statusCode, next.body).toBe(200);
    expect(
      (await call('GET', '/v1/whoami', { token: next.json<{ access_token: string }>().access_token }))
        .statusCode,
    ).toBe(200);
    expect((await refresh('bhr_unknown')).json()).toMatchObject({ code: 'invalid_grant' });
  });

  it('revokes a session through RFC 7009 and through the operator, for the very next request', async () => {
    const t = (await login(a.slug, 'ada@example.com', password)).json<{
      access_token: string;
      refresh_token: string;
    }>();
    expect((await call('GET', '/v1/whoami', { token: t.access_token })).statusCode).toBe(200);
    const revoked = await call('POST', '/v1/auth/revoke', {
      body: `token=${t.refresh_token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(revoked.statusCode).toBe(200);
    expect(comparable(await call('GET', '/v1/whoami', { token: t.access_token }))).toEqual(garbage);
    expect((await call('POST', '/v1/auth/revoke', { body: { token: 'nonsense' } })).statusCode).toBe(200);

    const u = (await login(a.slug, 'ada@example.com', password)).json<{ access_token: string }>();
    const who = (await call('GET', '/v1/whoami', { token: u.access_token })).json<{ sessionId: string }>();
    // Another domain's path does not reach the session; the same answer as an unknown one.
    const wrong = await call('DELETE', `/v1/domains/${b.id}/sessions/${who.sessionId}`, {
      token: operatorToken,
    });
    expect(wrong.statusCode).toBe(404);
    expect((await call('GET', '/v1/whoami', { token: u.access_token })).statusCode).toBe(200);
    expect(
      (await call('DELETE', `/v1/domains/${a.id}/sessions/${who.sessionId}`, { token: operatorToken }))
        .statusCode,
    ).toBe(204);
    expect(comparable(await call('GET', '/v1/whoami', { token: u.access_token }))).toEqual(garbage);
  });

  describe('browser sessions', () => {
    async function cookieLogin(domain: string) {
      // A sign-in that sets a cookie comes from a page of this site (inject() calls localhost:80).
      const res = await call('POST', '/v1/auth/login', {
        body: { domain, username: 'ada@example.com', password },
        headers: { origin: 'http://localhost' },
      });
      expect(res.statusCode, res.body).toBe(200);
      const setCookie = String(res.headers['set-cookie']);
      expect(setCookie).toMatch(
        /^__Host-bulkhead_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; Secure; HttpOnly; SameSite=Lax$/,
      );
      expect(setCookie).not.toMatch(/Domain=/i);
      return { cookie: setCookie.split(';')[0]!, sessionId: res.json<{ sessionId: string }>().sessionId };
    }
    const withCookie = (cookie: string, extra: Record<string, string> = {}) => ({ cookie, ...extra });

    it('logs in with a new id every time, answers whoami by cookie, and logs out for the next request', async () => {
      const one = await cookieLogin(a.slug);
      const two = await cookieLogin(a.slug);
      expect(one.cookie).not.toBe(two.cookie);
      const who = await call('GET', '/v1/whoami', { headers: withCookie(one.cookie) });
      expect(who.json()).toMatchObject({ credential: 'session', domainId: a.id, sessionId: one.sessionId });
      const stored = await asOwner(services.store, (tx) =>
        tx
          .selectFrom('sessions')
          .select('cookie_hash')
          .where('id', '=', one.sessionId)
          .executeTakeFirstOrThrow(),
      );
      expect(stored.cookie_hash).not.toContain(one.cookie.split('=')[1]!);

      // A cookie-authenticated change needs this site's Origin.
      const noOrigin = await call('POST', '/v1/auth/logout', { headers: withCookie(one.cookie) });
      expect(noOrigin.json()).toMatchObject({ code: 'csrf_rejected' });
      const evil = await call('POST', '/v1/auth/logout', {
        headers: withCookie(one.cookie, { origin: 'https://evil.example' }),
      });
      expect(evil.json()).toMatchObject({ code: 'csrf_rejected' });
      expect((await call('GET', '/v1/whoami', { headers: withCookie(one.cookie) })).statusCode).toBe(200);
      const out = await call('POST', '/v1/auth/logout', {
        headers: withCookie(one.cookie, { origin: 'https://app.example', host: 'app.example:443' }),
      });
      expect(out.statusCode, out.body).toBe(204);
      expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
      expect(comparable(await call('GET', '/v1/whoami', { headers: withCookie(one.cookie) }))).toEqual(
        garbage,
      );
      expect((await call('GET', '/v1/whoami', { headers: withCookie(two.cookie) })).statusCode).toBe(200);
    });

    it('refuses a cookie with a bearer token, an unknown or doubled cookie, and an idle one', async () => {
      const s1 = await cookieLogin(a.slug);
      expect(
        comparable(await call('GET', '/v1/whoami', { token: aToken, headers: withCookie(s1.cookie) })),
      ).toEqual(garbage);
      expect(
        comparable(
          await call('GET', '/v1/whoami', {
            headers: withCookie(`__Host-bulkhead_session=${'A'.repeat(43)}`),
          }),
        ),
      ).toEqual(garbage);
      expect(
        comparable(await call('GET', '/v1/whoami', { headers: withCookie(`${s1.cookie}; ${s1.cookie}`) })),
      ).toEqual(garbage);
      await asOwner(services.store, (tx) =>
        tx
          .updateTable('sessions')
          .set({ idle_until: new Date(Date.now() - 1000) })
          .where('id', '=', s1.sessionId)
          .execute(),
      );
      expect(comparable(await call('GET', '/v1/whoami', { headers: withCookie(s1.cookie) }))).toEqual(
        garbage,
      );
    });

    it('moves the idle timeout on with use, writing at most once in a tenth of the idle window', async () => {
      const s1 = await cookieLogin(a.slug);
      const row = () =>
        asOwner(services.store, (tx) =>
          tx
            .selectFrom('sessions')
            .select(['last_seen_at', 'idle_until'])
            .where('id', '=', s1.sessionId)
            .executeTakeFirstOrThrow(),
        );
      const whoami = async () =>
        (await call('GET', '/v1/whoami', { headers: withCookie(s1.cookie) })).statusCode;
      // Last seen long ago, and about to go idle: a use moves the window a whole idle period on.
      const lastSeen = new Date(Date.now() - 10 * 60_000);
      const nearlyIdle = new Date(Date.now() + 5_000);
      await asOwner(services.store, (tx) =>
        tx
          .updateTable('sessions')
          .set({ last_seen_at: lastSeen, idle_until: nearlyIdle })
          .where('id', '=', s1.sessionId)
          .execute(),
      );
      const before = Date.now();
      expect(await whoami()).toBe(200);
      const moved = await row();
      expect(moved.last_seen_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(moved.idle_until!.getTime()).toBeGreaterThan(nearlyIdle.getTime() + 60_000);
      // Used again at once: nothing is written.
      expect(await whoami()).toBe(200);
      expect(await row()).toEqual(moved);
    });

    it("answers domain A's cookie on domain B's routes as on a domain that does not exist, and obeys an operator revoke", async () => {
      const s1 = await cookieLogin(a.slug);
      for (const path of ['', '/keys', '/resources']) {
        const onB = await call('GET', `/v1/domains/${b.id}${path}`, { headers: withCookie(s1.cookie) });
        const onNothing = await call('GET', `/v1/domains/dom_00000000000000000000000000${path}`, {
          headers: withCookie(s1.cookie),
        });
        expect(onB.statusCode).toBeGreaterThanOrEqual(400);
        expect(comparable(onB)).toEqual(comparable(onNothing));
      }
      expect(
        (await call('DELETE', `/v1/domains/${a.id}/sessions/${s1.sessionId}`, { token: operatorToken }))
          .statusCode,
      ).toBe(204);
      expect(comparable(await call('GET', '/v1/whoami', { headers: withCookie(s1.cookie) }))).toEqual(
        garbage,
      );
    });
  });

  it('refuses a token at the next request once its principal is disabled or its domain suspended', async () => {
    const actor = { actor: 'operator', requestId: null };
    const c = await services.domains.create(actor, { slug: `tok-c-${process.pid}`, name: 'c' });
    const user = await services.principals.create(actor, c.id, {
      kind: 'user',
      email: 'eve@example.com',
      password,
    });
    const first = (await login(c.slug, 'eve@example.com', password)).json<{ access_token: string }>()
      .access_token;
    expect((await call('GET', '/v1/whoami', { token: first })).statusCode).toBe(200);
    await services.domains.suspend(actor, c.id);
    expect(comparable(await call('GET', '/v1/whoami', { token: first }))).toEqual(garbage);
    await services.domains.resume(actor, c.id);
    expect((await call('GET', '/v1/whoami', { token: first })).statusCode).toBe(200);
    await call('POST', `/v1/domains/${c.id}/principals/${user.id}/disable`, { token: operatorToken });
    expect(comparable(await call('GET', '/v1/whoami', { token: first }))).toEqual(garbage);
    expect((await login(c.slug, 'eve@example.com', password)).statusCode).toBe(400);
  });

  describe('a password change', () => {
    const newPassword = 'a new horse battery staple';
    let d: { id: string; slug: string };
    let userId: string;
    const passwordUrl = (domainId: string, principalId: string) =>
      `/v1/domains/${domainId}/principals/${principalId}/password`;
    const hashOf = async (id: string) =>
      asOwner(services.store, (tx) =>
        tx
          .selectFrom('principals')
          .select(['secret_hash', 'updated_at'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow(),
      );
    const cookieOf = async (pass: string) => {
      const res = await call('POST', '/v1/auth/login', {
        body: { domain: d.slug, username: 'grace@example.com', password: pass },
        headers: { origin: 'http://localhost' },
      });
      return {
        status: res.statusCode,
        cookie: String(res.headers['set-cookie']).split(';')[0]!,
        sessionId: res.statusCode === 200 ? res.json<{ sessionId: string }>().sessionId : null,
      };
    };
    const whoamiByCookie = (cookie: string) => call('GET', '/v1/whoami', { headers: { cookie } });

    beforeAll(async () => {
      const actor = { actor: 'operator', requestId: null };
      d = await services.domains.create(actor, { slug: `tok-pw-${process.pid}`, name: 'pw' });
      const created = await call('POST', `/v1/domains/${d.id}/principals`, {
        body: { kind: 'user', email: 'grace@example.com', password },
        token: operatorToken,
      });
      expect(created.statusCode, created.body).toBe(201);
      userId = created.json<{ id: string }>().id;
    });

    it('refuses a weak password, a service account and another domain like an unknown id, changing nothing', async () => {
      const before = await hashOf(userId);
      const weak = await call('POST', passwordUrl(d.id, userId), {
        body: { password: 'short' },
        token: operatorToken,
      });
      expect(weak.statusCode).toBe(400);
      expect(weak.json()).toMatchObject({ code: 'weak_password' });

      const unknown = await call('POST', passwordUrl(d.id, 'prn_00000000000000000000000000'), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(unknown.statusCode).toBe(404);
      const service = await call('POST', `/v1/domains/${d.id}/principals`, {
        body: { kind: 'service' },
        token: operatorToken,
      });
      const onService = await call('POST', passwordUrl(d.id, service.json<{ id: string }>().id), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(comparable(onService)).toEqual(comparable(unknown));
      // The operator naming domain A with this domain's user: A has no such principal.
      const unknownInA = await call('POST', passwordUrl(a.id, 'prn_00000000000000000000000000'), {
        body: { password: newPassword },
        token: operatorToken,
      });
      const acrossDomains = await call('POST', passwordUrl(a.id, userId), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(acrossDomains.statusCode).toBe(404);
      expect(comparable(acrossDomains)).toEqual(comparable(unknownInA));

      expect(await hashOf(userId)).toEqual(before);
      expect((await login(d.slug, 'grace@example.com', password)).statusCode).toBe(200);
      expect((await login(d.slug, 'grace@example.com', newPassword)).statusCode).toBe(400);
    });

    it('refuses the old password and every token and session from before at the very next request', async () => {
      const before = (await login(d.slug, 'grace@example.com', password)).json<{
        access_token: string;
        refresh_token: string;
      }>();
      const browser = await cookieOf(password);
      expect(browser.status).toBe(200);
      const who = await call('GET', '/v1/whoami', { token: before.access_token });
      expect(who.statusCode).toBe(200);
      const tokenSession = who.json<{ sessionId: string }>().sessionId;
      expect((await whoamiByCookie(browser.cookie)).statusCode).toBe(200);

      const changed = await call('POST', passwordUrl(d.id, userId), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json()).toEqual({
        id: userId,
        domainId: d.id,
        kind: 'user',
        email: 'grace@example.com',
        clientId: null,
        status: 'active',
        role: 'member',
        createdAt: expect.any(String) as string,
        updatedAt: expect.any(String) as string,
      });

      expect(comparable(await call('GET', '/v1/whoami', { token: before.access_token }))).toEqual(garbage);
      expect(comparable(await whoamiByCookie(browser.cookie))).toEqual(garbage);
      const refreshed = await call('POST', '/v1/auth/token', {
        body: { grant_type: 'refresh_token', refresh_token: before.refresh_token },
      });
      expect(refreshed.json()).toMatchObject({ code: 'invalid_grant' });
      expect((await login(d.slug, 'grace@example.com', password)).json()).toMatchObject({
        code: 'invalid_grant',
      });
      expect((await cookieOf(password)).status).toBe(400);

      // What is obtained after the change works: the principal itself was not revoked.
      const after = (await login(d.slug, 'grace@example.com', newPassword)).json<{
        access_token: string;
        refresh_token: string;
      }>();
      expect((await call('GET', '/v1/whoami', { token: after.access_token })).statusCode).toBe(200);
      const next = await call('POST', '/v1/auth/token', {
        body: { grant_type: 'refresh_token', refresh_token: after.refresh_token },
      });
      expect(next.statusCode, next.body).toBe(200);
      const cookie = await cookieOf(newPassword);
      expect(cookie.status).toBe(200);
      expect((await whoamiByCookie(cookie.cookie)).statusCode).toBe(200);

      // Each session of the user is revoked on its own in the feed, never the principal.
      const revocations = await asOwner(services.store, (tx) =>
        tx.selectFrom('revocations').select(['kind', 'target']).where('domain_id', '=', d.id).execute(),
      );
      expect(revocations.filter((r) => r.kind !== 'session')).toEqual([]);
      const targets = revocations.map((r) => r.target);
      expect(targets).toEqual(expect.arrayContaining([tokenSession, browser.sessionId]));
      const { sessionId: afterSession } = (
        await call('GET', '/v1/whoami', { token: after.access_token })
      ).json<{ sessionId: string }>();
      expect(targets).not.toContain(afterSession);

      const events = await asOwner(services.store, (tx) =>
        tx
          .selectFrom('audit_events')
          .select(['actor', 'target', 'outcome', 'detail'])
          .where('action', '=', 'principal.password_changed')
          .where('domain_id', '=', d.id)
          .execute(),
      );
      expect(events).toEqual([
        {
          actor: 'operator',
          target: userId,
          outcome: 'success',
          detail: { revokedSessions: revocations.length },
        },
      ]);
      for (const secret of [password, newPassword]) expect(JSON.stringify(events)).not.toContain(secret);
    });

    it('never lets a login that checked the old password open a session after the change', async () => {
      const actor = { actor: 'test', requestId: null };
      const account = await services.principals.findUser(
        canonicalDomainRef(d.slug),
        canonicalEmail('grace@example.com'),
      );
      const checked = await services.principals.checkPassword(account, newPassword);
      expect(checked).not.toBeNull();
      await services.principals.setPassword(actor, d.id, userId, password);
      await expect(
        services.tokens.issue(actor, checked!, 'bulkhead', { refresh: true }),
      ).rejects.toMatchObject({
        code: 'invalid_grant',
      });
      await expect(services.sessions.login(actor, checked!)).rejects.toMatchObject({ code: 'invalid_grant' });
      expect((await login(d.slug, 'grace@example.com', password)).statusCode).toBe(200);
    });

    it('gives a disabled user a new password, and it stays disabled', async () => {
      await call('POST', `/v1/domains/${d.id}/principals/${userId}/disable`, { token: operatorToken });
      const changed = await call('POST', passwordUrl(d.id, userId), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json()).toMatchObject({ status: 'disabled' });
      expect((await login(d.slug, 'grace@example.com', newPassword)).statusCode).toBe(400);
      await call('DELETE', `/v1/domains/${d.id}/principals/${userId}`, { token: operatorToken });
      const deleted = await call('POST', passwordUrl(d.id, userId), {
        body: { password: newPassword },
        token: operatorToken,
      });
      expect(deleted.statusCode).toBe(404);
    });
  });
});
