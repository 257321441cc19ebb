// Redis resources through the provisioning path: provisioned over the HTTP API with a domain's key, used
// with the credentials the API returns, refused across domains, deprovisioned, and swept by the
// reconciler when a crash left an ACL user behind. The real Redis provider on the test server.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceKind } from '../../src/domain/kinds.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { backendName, type Credentials, type Provider } from '../../src/providers/provider.js';
import { createRedisProvider } from '../../src/providers/redis/index.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, createDomainWithKey, operatorToken, unique } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { attackWithOtherKindKey } from '../helpers/scope-attack.js';
import { openTestAdmin, tenantRedis, testRedisUrl } from '../helpers/redis.js';

describe('redis resources through the API', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let admin: Redis;
  let provider: Provider;
  const opened: Redis[] = [];

  const call = callerOf(() => app);
  const domainWithKey = () =>
    createDomainWithKey(call, { slug: unique('redis'), name: 'r', scopes: ['redis'] });

  async function provision(domain: { id: string; key: string }, name: string) {
    const res = await call('POST', `/v1/domains/${domain.id}/resources`, {
      token: domain.key,
      body: { kind: 'redis', name },
    });
    expect(res.statusCode, res.body).toBe(201);
    const resource = res.json<{ id: string; status: string }>();
    expect(resource.status).toBe('ready');
    const creds = await call('GET', `/v1/domains/${domain.id}/resources/${resource.id}/credentials`, {
      token: domain.key,
    });
    expect(creds.statusCode, creds.body).toBe(200);
    return { id: resource.id, credentials: creds.json<Credentials>() };
  }

  const connect = async (credentials: Credentials) => {
    const redis = await tenantRedis(credentials);
    opened.push(redis);
    return redis;
  };

  beforeAll(async () => {
    admin = await openTestAdmin();
    provider = await createRedisProvider({ adminUrl: testRedisUrl, allowOpenDefaultUser: true });
    const providers = new Map<ResourceKind, Provider>([['redis', provider]]);
    services = await openTestServices(
      backends.find((b) => b.name === 'pglite')!,
      { providers, leaseMs: 5_000 },
    );
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });

  afterAll(async () => {
    for (const redis of opened) redis.disconnect();
    // Deleting every domain makes the reconciler remove every ACL user and key made here.
    for (const d of await services.domains.list({ limit: 500 })) {
      await services.domains.delete({ actor: 'test', requestId: null }, d.id);
    }
    await services.provisioner.reconcile();
    await app.close();
    await services.drop();
    await admin.quit();
  });

  it('provisions a redis resource whose credentials work for its own prefix only', async () => {
    const [a, b] = [await domainWithKey(), await domainWithKey()];
    const [ra, rb] = [await provision(a, 'cache'), await provision(b, 'cache')];
    expect(ra.credentials).toMatchObject({
      username: backendName({ domainId: a.id, resourceId: ra.id }),
      keyPrefix: `bh:${a.id}:${ra.id}:`,
    });
    const [asA, asB] = [await connect(ra.credentials), await connect(rb.credentials)];
    const bKey = `${String(rb.credentials['keyPrefix'])}session`;
    await asB.set(bKey, 'B');
    await asA.set(`${String(ra.credentials['keyPrefix'])}session`, 'A');
    expect(await asA.get(`${String(ra.credentials['keyPrefix'])}session`)).toBe('A');
    await expect(asA.get(bKey)).rejects.toThrow(/^NOPERM/);
    // A's key reaches nothing of B's through the API either.
    const stolen = await call('GET', `/v1/domains/${b.id}/resources/${rb.id}/credentials`, { token: a.key });
    expect(stolen.statusCode).not.toBe(200);
    expect(stolen.body).not.toContain(String(rb.credentials['password']));
  });

  it("refuses a key scoped for storage only the redis resource's credentials, rotation and deletion, and its data stays", async () => {
    const a = await domainWithKey();
    const r = await provision(a, 'sessions');
    const key = `${String(r.credentials['keyPrefix'])}kept`;
    await (await connect(r.credentials)).set(key, 'kept');
    await attackWithOtherKindKey({
      call,
      domainId: a.id,
      resourceId: r.id,
      kind: 'redis',
      secret: String(r.credentials['password']),
      intact: async () => expect(await (await connect(r.credentials)).get(key)).toBe('kept'),
    });
    expect(await admin.exists(key)).toBe(0);
  });

  it('deprovisions through the API: the connection ends, the user and the keys are gone', async () => {
    const a = await domainWithKey();
    const r = await provision(a, 'queue');
    const redis = await connect(r.credentials);
    const prefix = String(r.credentials['keyPrefix']);
    await redis.set(`${prefix}k`, 'v');
    const res = await call('DELETE', `/v1/domains/${a.id}/resources/${r.id}`, { token: a.key });
    expect(res.statusCode, res.body).toBeLessThan(300);
    await expect(redis.get(`${prefix}k`)).rejects.toThrow();
    const user = backendName({ domainId: a.id, resourceId: r.id });
    expect(await admin.call('ACL', 'GETUSER', user)).toBeNull();
    expect(await admin.exists(`${prefix}k`)).toBe(0);
    await expect(tenantRedis(r.credentials)).rejects.toThrow(/WRONGPASS/);
  });

  it('has the reconciler remove an ACL user a crash left behind for a deleted resource', async () => {
    const a = await domainWithKey();
    const r = await provision(a, 'orphan');
    await call('DELETE', `/v1/domains/${a.id}/resources/${r.id}`, { token: a.key });
    const ref = { domainId: a.id, resourceId: r.id };
    // As if a crash had struck between the backend work and its record: the user is back, with a key.
    const revived = await provider.create(ref);
    await admin.set(`${String(revived['keyPrefix'])}left`, 'x');
    const report = await services.provisioner.reconcile();
    expect(report.orphansRemoved).toBeGreaterThanOrEqual(1);
    expect(await admin.call('ACL', 'GETUSER', backendName(ref))).toBeNull();
    expect(await admin.exists(`${String(revived['keyPrefix'])}left`)).toBe(0);
  });
});
