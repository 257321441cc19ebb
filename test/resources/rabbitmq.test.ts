// Provisioning kind `rabbitmq` through the HTTP API with a domain's key, against the real broker: the
// returned URL works with amqplib, another domain's URL does not open it, and deprovisioning removes the
// vhost and ends the tenant's open connection.
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { ResourceKind } from '../../src/domain/kinds.js';
import type { Provider } from '../../src/providers/provider.js';
import { createRabbitmqProvider } from '../../src/providers/rabbitmq/index.js';
import type { Services } from '../../src/runtime.js';
import { callerOf, createDomainWithKey, operatorToken, unique } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import {
  assertBrokerReachable,
  mgmt,
  openTenant,
  path,
  rejection,
  testRabbitmqUrl,
  urlWithVhost,
  within,
} from '../helpers/rabbitmq.js';
import { attackWithOtherKindKey } from '../helpers/scope-attack.js';

describe('rabbitmq resources through the API', () => {
  let services: Services & { drop(): Promise<void> };
  let app: App;

  const call = callerOf(() => app);
  const domainWithKey = () =>
    createDomainWithKey(call, { slug: unique('mq'), name: 'mq', scopes: ['rabbitmq'] });

  async function provision(domain: { id: string; key: string }, name: string) {
    const res = await call('POST', `/v1/domains/${domain.id}/resources`, {
      token: domain.key,
      body: { kind: 'rabbitmq', name },
    });
    expect(res.statusCode, res.body).toBe(201);
    const resource = res.json<{ id: string; status: string; kind: string }>();
    expect(resource).toMatchObject({ kind: 'rabbitmq', status: 'ready' });
    const creds = await call('GET', `/v1/domains/${domain.id}/resources/${resource.id}/credentials`, {
      token: domain.key,
    });
    expect(creds.statusCode, creds.body).toBe(200);
    return {
      id: resource.id,
      creds: creds.json<{ url: string; vhost: string; username: string; password: string }>(),
    };
  }

  beforeAll(async () => {
    await assertBrokerReachable();
    const providers = new Map<ResourceKind, Provider>([
      ['rabbitmq', await createRabbitmqProvider({ managementUrl: testRabbitmqUrl })],
    ]);
    services = await openTestServices(
      backends.find((b) => b.name === 'pglite')!,
      { providers },
    );
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });

  afterAll(async () => {
    // Deleting every domain makes the reconciler remove every vhost and user made here.
    for (const d of await services.domains.list({ limit: 500 })) {
      await services.domains.delete({ actor: 'test', requestId: null }, d.id);
    }
    await services.provisioner.reconcile();
    await app.close();
    await services.drop();
  });

  it("refuses a key scoped for storage only the vhost's credentials, rotation and deletion, and its queue stays", async () => {
    const a = await domainWithKey();
    const r = await provision(a, 'orders');
    const setup = await openTenant(r.creds.url);
    try {
      await setup.channel.assertQueue('kept', { durable: true });
      setup.channel.sendToQueue('kept', Buffer.from('kept'), { persistent: true });
      await setup.channel.checkQueue('kept');
    } finally {
      await setup.close();
    }
    await attackWithOtherKindKey({
      call,
      domainId: a.id,
      resourceId: r.id,
      kind: 'rabbitmq',
      secret: r.creds.password,
      intact: async () => {
        const tenant = await openTenant(r.creds.url);
        try {
          expect((await tenant.channel.checkQueue('kept')).messageCount).toBe(1);
        } finally {
          await tenant.close();
        }
      },
    });
    expect((await mgmt('GET', path('vhosts', r.creds.vhost))).status).toBe(404);
  });

  it('provisions a vhost the tenant uses with the returned URL, and only that vhost', async () => {
    const a = await domainWithKey();
    const b = await domainWithKey();
    const [mine, theirs] = [await provision(a, 'events'), await provision(b, 'events')];

    const tenant = await openTenant(mine.creds.url);
    try {
      await tenant.channel.assertQueue('jobs');
      tenant.channel.sendToQueue('jobs', Buffer.from('job-1'));
      let got: string | null = null;
      for (let i = 0; i < 50 && got === null; i++) {
        const m = await tenant.channel.get('jobs', { noAck: true });
        if (m !== false) got = m.content.toString();
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(got).toBe('job-1');
    } finally {
      await tenant.close();
    }
    await rejection(connect(urlWithVhost(mine.creds.url, theirs.creds.vhost)));

    // Deprovisioning ends the open connection and removes the vhost with its queues.
    const live = await openTenant(mine.creds.url);
    const deleted = await call('DELETE', `/v1/domains/${a.id}/resources/${mine.id}`, { token: a.key });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(await within(live.closed, 5_000)).toBe(true);
    await rejection(live.channel.checkQueue('jobs'));
    expect((await mgmt('GET', path('vhosts', mine.creds.vhost))).status).toBe(404);
    expect((await mgmt('GET', path('users', mine.creds.username))).status).toBe(404);
    await rejection(connect(mine.creds.url));
    // B's vhost is untouched.
    expect((await mgmt('GET', path('vhosts', theirs.creds.vhost))).status).toBe(200);
  });
});
