// Per-domain signing keys and JWKS: a token signed for one domain verifies only under that domain's
// published keys; rotation publishes the next key first and keeps the old one until its tokens expire.
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { PublicJwk } from '../../src/identity/signing-keys.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { asOwner, backends, openTestServices } from '../helpers/backends.js';

const actor = { actor: 'operator', requestId: null };
let n = 0;

describe.each(backends)('signing keys on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;

  beforeAll(async () => {
    services = await openTestServices(backend, { accessTokenSeconds: 1 });
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  const domain = async () =>
    (await services.domains.create(actor, { slug: `sign-${process.pid}-${++n}`, name: 'x' })).id;
  const jwksOf = async (id: string) => {
    const res = await app.inject({ method: 'GET', url: `/v1/domains/${id}/jwks.json` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ keys: PublicJwk[] }>();
  };
  async function sign(domainId: string): Promise<string> {
    const { kid, privateKey } = await services.signingKeys.current(domainId);
    return new SignJWT({ dom: domainId })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
  }

  it('publishes a current and a next Ed25519 key, each named by its RFC 7638 thumbprint', async () => {
    const id = await domain();
    const { keys } = await jwksOf(id);
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
      expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: key.x }, 'sha256'));
    }
    const rows = await asOwner(services.store, (tx) =>
      tx.selectFrom('signing_keys').selectAll().where('domain_id', '=', id).execute(),
    );
    for (const row of rows) expect(row.private_key).toMatch(/^v1\./); // sealed, never a PEM or a JWK
  });

  it("verifies a domain's token only under its own key set", async () => {
    const a = await domain();
    const b = await domain();
    const token = await sign(a);
    await expect(jwtVerify(token, createLocalJWKSet(await jwksOf(a)))).resolves.toBeDefined();
    await expect(jwtVerify(token, createLocalJWKSet(await jwksOf(b)))).rejects.toThrow();
    const all = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{
      keys: PublicJwk[];
    }>();
    const aKids = (await jwksOf(a)).keys.map((k) => k.kid);
    const bKids = (await jwksOf(b)).keys.map((k) => k.kid);
    expect(all.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([...aKids, ...bKids]));
    expect(aKids.filter((k) => bKids.includes(k))).toEqual([]);
  });

  it('rotates: the next key signs, a new next is published, the old key stays until its tokens expire', async () => {
    const id = await domain();
    const before = await jwksOf(id);
    const oldToken = await sign(id);
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${id}/signing-keys/rotate`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json<{ items: { kid: string; state: string; publishUntil: string | null }[] }>().items;
    const [nextBefore] = (await services.signingKeys.list(id)).filter((k) => k.state === 'current');
    expect(before.keys.map((k) => k.kid)).toContain(nextBefore!.kid); // it was published before it signed
    expect(items.map((k) => k.state).sort()).toEqual(['current', 'next', 'retired']);
    const after = await jwksOf(id);
    expect(after.keys).toHaveLength(3);
    await expect(jwtVerify(oldToken, createLocalJWKSet(after))).resolves.toBeDefined();
    const newToken = await sign(id);
    expect(decodeProtectedHeader(newToken).kid).toBe(nextBefore!.kid);
    const retired = items.find((k) => k.state === 'retired')!;
    expect(new Date(retired.publishUntil!).getTime()).toBeGreaterThan(Date.now());
  });

  it('drops a retired key once its tokens have expired', async () => {
    const id = await domain();
    await services.signingKeys.rotate(actor, id);
    expect((await jwksOf(id)).keys).toHaveLength(3);
    await asOwner(services.store, (tx) =>
      tx
        .updateTable('signing_keys')
        .set({ publish_until: new Date(Date.now() - 1000) })
        .where('domain_id', '=', id)
        .where('state', '=', 'retired')
        .execute(),
    );
    expect((await jwksOf(id)).keys).toHaveLength(2);
  });

  it('publishes nothing for a suspended, deleted or unknown domain', async () => {
    const id = await domain();
    await jwksOf(id);
    await services.domains.suspend(actor, id);
    expect((await app.inject({ method: 'GET', url: `/v1/domains/${id}/jwks.json` })).statusCode).toBe(404);
    const all = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{
      keys: PublicJwk[];
    }>();
    const kids = (await services.signingKeys.list(id)).map((k) => k.kid);
    expect(all.keys.filter((k) => kids.includes(k.kid))).toEqual([]);
    await services.domains.delete(actor, id);
    expect((await app.inject({ method: 'GET', url: `/v1/domains/${id}/jwks.json` })).statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/domains/dom_00000000000000000000000000/jwks.json' }))
        .statusCode,
    ).toBe(404);
  });

  it('lets only the operator rotate or list, and audits the rotation', async () => {
    const id = await domain();
    const key = await services.keys.issue(actor, id);
    const res = await app.inject({
      method: 'POST',
      url: `/v1/domains/${id}/signing-keys/rotate`,
      headers: { authorization: `Bearer ${key.key}` },
    });
    expect(res.statusCode).toBe(403);
    await services.signingKeys.rotate(actor, id);
    const events = await asOwner(services.store, (tx) =>
      tx.selectFrom('audit_events').select('action').where('domain_id', '=', id).execute(),
    );
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['signing_key.create', 'signing_key.rotate']),
    );
  });
});
