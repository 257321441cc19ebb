// A domain's admins manage its principals and sessions themselves, with their own access token or browser
// session; a member of the domain is refused, and an admin of another domain finds nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';
import { comparable, createTenant, type Tenant } from '../helpers/tenants.js';

const password = 'correct horse battery staple';

describe.each(backends)('domain admins on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let d: Tenant; // its user is an admin (see createTenant)
  let other: Tenant;
  let memberId: string;
  let memberToken: string;

  // No credential unless a call names one.
  const call = callerOf(() => app, { token: null });
  const login = async (domainId: string, email: string, pass = password) => {
    const res = await call('POST', '/v1/auth/token', {
      body: { grant_type: 'password', domain: domainId, username: email, password: pass },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ access_token: string }>().access_token;
  };
  const secretHashOf = (id: string) =>
    asOwner(services.store, (tx) =>
      tx.selectFrom('principals').select('secret_hash').where('id', '=', id).executeTakeFirstOrThrow(),
    );

  beforeAll(async () => {
    services = await openTestServices(backend);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    d = await createTenant(app, operatorToken, `adm-${backend.name}-${process.pid}`);
    other = await createTenant(app, operatorToken, `adm-o-${backend.name}-${process.pid}`);
    const member = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'member@example.com', password },
    });
    expect(member.statusCode, member.body).toBe(201);
    expect(member.json()).toMatchObject({ role: 'member' });
    memberId = member.json<{ id: string }>().id;
    memberToken = await login(d.id, 'member@example.com');
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('tells each credential its role', async () => {
    expect((await call('GET', '/v1/whoami', { token: d.token })).json()).toMatchObject({ role: 'admin' });
    expect((await call('GET', '/v1/whoami', { headers: { cookie: d.cookie } })).json()).toMatchObject({
      role: 'admin',
    });
    expect((await call('GET', '/v1/whoami', { token: memberToken })).json()).toMatchObject({
      role: 'member',
    });
    expect((await call('GET', '/v1/whoami', { token: d.key })).json()).toMatchObject({ role: null });
  });

  it('lets an admin create, list, re-password, disable and delete principals and end sessions, audited as itself', async () => {
    const admin = d.token;
    const created = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: admin,
      body: { kind: 'user', email: 'new@example.com', password },
    });
    expect(created.statusCode, created.body).toBe(201);
    const newId = created.json<{ id: string }>().id;
    const service = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: admin,
      body: { kind: 'service' },
    });
    expect(service.statusCode).toBe(201);
    expect(service.json()).toHaveProperty('clientSecret');
    const listed = await call('GET', `/v1/domains/${d.id}/principals`, { token: admin });
    expect(listed.statusCode).toBe(200);
    const ids = listed.json<{ items: { id: string; domainId: string }[] }>().items;
    expect(ids.map((p) => p.id)).toEqual(expect.arrayContaining([memberId, newId]));
    for (const p of ids) expect(p.domainId).toBe(d.id);

    const newToken = await login(d.id, 'new@example.com');
    const sessionId = (await call('GET', '/v1/whoami', { token: newToken })).json<{ sessionId: string }>()
      .sessionId;
    const revoked = await call('DELETE', `/v1/domains/${d.id}/sessions/${sessionId}`, { token: admin });
    expect(revoked.statusCode, revoked.body).toBe(204);
    expect((await call('GET', '/v1/whoami', { token: newToken })).statusCode).toBe(401);

    const changed = await call('POST', `/v1/domains/${d.id}/principals/${newId}/password`, {
      token: admin,
      body: { password: 'another horse battery staple' },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    await login(d.id, 'new@example.com', 'another horse battery staple');
    expect(
      (await call('POST', `/v1/domains/${d.id}/principals/${newId}/disable`, { token: admin })).json(),
    ).toMatchObject({ status: 'disabled' });
    expect(
      (await call('DELETE', `/v1/domains/${d.id}/principals/${newId}`, { token: admin })).json(),
    ).toMatchObject({
      status: 'deleted',
    });

    // The browser session of an admin works too, with the same-site check every cookie change has.
    const byCookie = await call('POST', `/v1/domains/${d.id}/principals`, {
      headers: { cookie: d.cookie, origin: 'http://localhost:80' },
      body: { kind: 'user', email: 'cookie@example.com', password },
    });
    expect(byCookie.statusCode, byCookie.body).toBe(201);
    const crossSite = await call('POST', `/v1/domains/${d.id}/principals`, {
      headers: { cookie: d.cookie, origin: 'https://evil.example' },
      body: { kind: 'user', email: 'csrf@example.com', password },
    });
    expect(crossSite.json()).toMatchObject({ code: 'csrf_rejected' });

    const whoAdmin = (await call('GET', '/v1/whoami', { token: admin })).json<{ subject: string }>().subject;
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: d.id, action: 'principal.create', limit: 100 }),
    );
    const byAdmin = events.find((e) => e.target === newId);
    expect(byAdmin?.actor).toBe(`principal:${whoAdmin}`);
  });

  it('refuses a member (and a key) every admin route of its own domain, changing nothing', async () => {
    const before = await secretHashOf(memberId);
    const adminId = (await call('GET', '/v1/whoami', { token: d.token })).json<{ subject: string }>().subject;
    const adminSession = (await call('GET', '/v1/whoami', { token: d.token })).json<{ sessionId: string }>()
      .sessionId;
    const attempts: [string, string, object | undefined][] = [
      [
        'POST',
        `/v1/domains/${d.id}/principals`,
        { kind: 'user', email: 'x@example.com', password, role: 'admin' },
      ],
      ['GET', `/v1/domains/${d.id}/principals`, undefined],
      ['POST', `/v1/domains/${d.id}/principals/${adminId}/password`, { password: 'taken over the admin' }],
      ['POST', `/v1/domains/${d.id}/principals/${adminId}/disable`, undefined],
      ['PUT', `/v1/domains/${d.id}/principals/${adminId}/role`, { role: 'member' }],
      ['DELETE', `/v1/domains/${d.id}/principals/${adminId}`, undefined],
      ['DELETE', `/v1/domains/${d.id}/sessions/${adminSession}`, undefined],
    ];
    for (const [method, url, body] of attempts) {
      const asMember = await call(method, url, { token: memberToken, body });
      expect(asMember.statusCode, `${method} ${url}`).toBe(403);
      expect(asMember.json(), `${method} ${url}`).toMatchObject({ code: 'admin_required' });
      const asKey = await call(method, url, { token: d.key, body });
      expect(asKey.statusCode, `key: ${method} ${url}`).toBe(403);
    }
    expect((await call('GET', '/v1/whoami', { token: d.token })).statusCode).toBe(200);
    expect(await secretHashOf(memberId)).toEqual(before);
    const principals = await asOwner(services.store, (tx) =>
      tx.selectFrom('principals').select(['email', 'status']).where('domain_id', '=', d.id).execute(),
    );
    expect(principals.map((p) => p.email)).not.toContain('x@example.com');
    expect(principals.every((p) => p.status !== 'disabled' || p.email !== 'ada@example.com')).toBe(true);
  });

  it("answers an admin of another domain on this domain's principals exactly as on unknown ones", async () => {
    const before = await secretHashOf(memberId);
    const foreign = await call('POST', `/v1/domains/${d.id}/principals/${memberId}/password`, {
      token: other.token,
      body: { password: 'taken over across domains' },
    });
    const unknown = await call(
      'POST',
      `/v1/domains/dom_00000000000000000000000000/principals/prn_00000000000000000000000000/password`,
      { token: other.token, body: { password: 'taken over across domains' } },
    );
    expect(foreign.statusCode).toBe(404);
    expect(comparable(foreign)).toEqual(comparable(unknown));
    // Its own domain's path with this domain's principal finds nothing either.
    const ownPath = await call('POST', `/v1/domains/${other.id}/principals/${memberId}/password`, {
      token: other.token,
      body: { password: 'taken over across domains' },
    });
    expect(ownPath.statusCode).toBe(404);
    expect(await secretHashOf(memberId)).toEqual(before);
  });

  it("changes a principal's role, ending its sessions, audited with the old and the new role", async () => {
    const created = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: d.token,
      body: { kind: 'user', email: 'promoted@example.com', password },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const before = await login(d.id, 'promoted@example.com');
    expect((await call('GET', '/v1/whoami', { token: before })).json()).toMatchObject({ role: 'member' });
    const url = `/v1/domains/${d.id}/principals/${id}/role`;
    const roleEvents = () =>
      asOwner(services.store, (tx) =>
        listAudit(tx, { domainId: d.id, action: 'principal.role', limit: 100 }),
      ).then((events) => events.filter((e) => e.target === id));

    const promoted = await call('PUT', url, { token: d.token, body: { role: 'admin' } });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.json()).toMatchObject({ id, role: 'admin', status: 'active' });
    // The token issued as a member is refused; the next login is an admin's.
    expect((await call('GET', '/v1/whoami', { token: before })).statusCode).toBe(401);
    const after = await login(d.id, 'promoted@example.com');
    expect((await call('GET', '/v1/whoami', { token: after })).json()).toMatchObject({ role: 'admin' });
    expect((await call('GET', `/v1/domains/${d.id}/principals`, { token: after })).statusCode).toBe(200);
    const events = await roleEvents();
    expect(events).toHaveLength(1);
    expect(events[0]!.detail).toMatchObject({ from: 'member', to: 'admin', revokedSessions: 1 });

    // The same role again: nothing changes, no session ends, nothing is audited.
    const again = await call('PUT', url, { token: d.token, body: { role: 'admin' } });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual(promoted.json());
    expect((await call('GET', '/v1/whoami', { token: after })).statusCode).toBe(200);
    expect(await roleEvents()).toHaveLength(1);

    // With If-Match, like the other changes of a principal.
    const etag = (await call('GET', `/v1/domains/${d.id}/principals/${id}`, { token: d.token })).headers.etag;
    const stale = await call('PUT', url, {
      token: d.token,
      headers: { 'if-match': '"stale"' },
      body: { role: 'member' },
    });
    expect(stale.statusCode).toBe(412);
    const demoted = await call('PUT', url, {
      token: d.token,
      headers: { 'if-match': String(etag) },
      body: { role: 'member' },
    });
    expect(demoted.statusCode, demoted.body).toBe(200);
    expect(demoted.json()).toMatchObject({ role: 'member' });
    expect((await call('GET', '/v1/whoami', { token: after })).statusCode).toBe(401);
    expect((await roleEvents()).map((e) => e.detail)).toEqual(
      expect.arrayContaining([expect.objectContaining({ from: 'admin', to: 'member' })]),
    );

    // A service account has a role too, as at its creation.
    const service = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: d.token,
      body: { kind: 'service' },
    });
    const serviceRole = await call(
      'PUT',
      `/v1/domains/${d.id}/principals/${service.json<{ id: string }>().id}/role`,
      {
        token: operatorToken,
        body: { role: 'admin' },
      },
    );
    expect(serviceRole.statusCode, serviceRole.body).toBe(200);
    expect(serviceRole.json()).toMatchObject({ kind: 'service', role: 'admin' });

    for (const body of [{ role: 'owner' }, { role: 'admin', extra: 1 }, {}]) {
      const bad = await call('PUT', url, { token: d.token, body });
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
    }
    const asMember = await call('PUT', url, { token: memberToken, body: { role: 'admin' } });
    expect(asMember.statusCode).toBe(403);
    expect(asMember.json()).toMatchObject({ code: 'admin_required' });
  });

  it("answers another domain's admin on this domain's principal's role as on an unknown one, changing nothing", async () => {
    const roleOf = (id: string) =>
      asOwner(services.store, (tx) =>
        tx
          .selectFrom('principals')
          .select(['role', 'updated_at'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow(),
      );
    const before = await roleOf(memberId);
    const sessionsBefore = (await call('GET', '/v1/whoami', { token: memberToken })).statusCode;
    const body = { role: 'admin' };
    const foreign = await call('PUT', `/v1/domains/${d.id}/principals/${memberId}/role`, {
      token: other.token,
      body,
    });
    const unknown = await call(
      'PUT',
      `/v1/domains/dom_00000000000000000000000000/principals/prn_00000000000000000000000000/role`,
      { token: other.token, body },
    );
    expect(foreign.statusCode).toBe(404);
    expect(comparable(foreign)).toEqual(comparable(unknown));
    const ownPath = await call('PUT', `/v1/domains/${other.id}/principals/${memberId}/role`, {
      token: other.token,
      body,
    });
    expect(ownPath.statusCode).toBe(404);
    const unknownOwn = await call(
      'PUT',
      `/v1/domains/${other.id}/principals/prn_00000000000000000000000000/role`,
      {
        token: other.token,
        body,
      },
    );
    expect(unknownOwn.statusCode).toBe(404);
    expect(comparable(ownPath)).toEqual(comparable(unknownOwn));
    expect(await roleOf(memberId)).toEqual(before);
    expect((await call('GET', '/v1/whoami', { token: memberToken })).statusCode).toBe(sessionsBefore);
    const events = await asOwner(services.store, (tx) =>
      listAudit(tx, { domainId: d.id, action: 'principal.role', limit: 100 }),
    );
    expect(events.filter((e) => e.target === memberId)).toEqual([]);
  });

  it('refuses a role that does not exist', async () => {
    const res = await call('POST', `/v1/domains/${d.id}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'owner@example.com', password, role: 'owner' },
    });
    expect(res.statusCode).toBe(400);
  });
});
