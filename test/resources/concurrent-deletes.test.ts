// Overlapping deletes of one PostgreSQL resource, through two servers sharing one store and through
// one server twice, in both modes: every caller gets success, the resource ends `deleted` once (one
// `resource.deleted` event), and its role and database or schema are gone. Run together, the backend's
// statements used to collide ("tuple concurrently deleted") and one caller got an error.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/log.js';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { backendName } from '../../src/providers/provider.js';
import { buildServices, type Services } from '../../src/runtime.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends, testPostgresUrl, testSecret } from '../helpers/backends.js';
import { operatorToken } from '../helpers/api.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';

let n = 0;
const unique = (base: string) => `${base}-${process.pid}-${++n}`;

async function roleExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: testPostgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT FROM pg_roles WHERE rolname = $1', [name]);
    return rows.length > 0;
  } finally {
    await client.end();
  }
}

describe.each(['database', 'schema'] as const)('overlapping deletes (%s mode)', (mode) => {
  let store: Store & { drop(): Promise<void> };
  const servers: { providers: TestProviders; services: Services; app: App }[] = [];

  beforeAll(async () => {
    store = await backends[1]!.open();
    for (let i = 0; i < 2; i++) {
      const providers = await openTestProviders(mode);
      const services = buildServices(store, testSecret, {
        providers: providers.providers,
        slugQuarantineMs: 0,
      });
      providers.bind(services.keyring);
      if (i === 0) await services.operator.initialise(operatorToken);
      servers.push({ providers, services, app: await buildServer(services) });
    }
  });

  afterAll(async () => {
    for (const { app, services, providers } of servers) {
      await app.close();
      await services.provisioner.stop();
      await services.compute.stop();
      for (const p of providers.providers.values()) await p.close();
      providers.remove();
    }
    await store.drop();
  });

  const call = (i: number, method: string, url: string, body?: unknown, token = operatorToken) =>
    servers[i]!.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as string }),
    });

  it('answers every caller with success and deletes once, across servers and on one', async () => {
    const domain = await call(0, 'POST', '/v1/domains', { slug: unique('overlap'), name: 'Overlap' });
    expect(domain.statusCode, domain.body).toBe(201);
    const domainId = domain.json<{ id: string }>().id;
    const issued = await call(0, 'POST', `/v1/domains/${domainId}/keys`, {});
    expect(issued.statusCode, issued.body).toBe(201);
    const key = issued.json<{ key: string }>().key;
    for (const servers of [
      [0, 1, 0],
      [1, 1],
    ]) {
      const created = await call(
        0,
        'POST',
        `/v1/domains/${domainId}/resources`,
        {
          kind: 'postgres',
          name: unique('db'),
        },
        key,
      );
      expect(created.statusCode, created.body).toBe(201);
      const resourceId = created.json<{ id: string }>().id;
      const answers = await Promise.all(
        servers.map((i) =>
          call(i, 'DELETE', `/v1/domains/${domainId}/resources/${resourceId}`, undefined, key),
        ),
      );
      for (const answer of answers) {
        expect(answer.statusCode, answer.body).toBe(200);
        expect(answer.json()).toMatchObject({ id: resourceId, status: 'deleted' });
      }
      const events = (await asOwner(store, (tx) => listAudit(tx, { domainId, limit: 500 }))).filter(
        (e) => e.target === resourceId && e.action === 'resource.deleted',
      );
      expect(events).toHaveLength(1);
      expect(await roleExists(backendName({ domainId, resourceId }))).toBe(false);
    }
  });
});
