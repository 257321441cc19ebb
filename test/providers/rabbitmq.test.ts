// The RabbitMQ provider on the real broker. Attacks run through amqplib, a bare AMQP handshake and the
// management API with domain A's returned credentials, and assert what must not happen: B's vhost
// unopened, B's queue unread and unchanged, nothing granted, nothing managed. A missing broker fails.
// What every provider promises (create, credentials, delete ending sessions, idempotency, the probe both
// ways) is in contract.ts, run by rabbitmq-contract.test.ts.
import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { newId } from '../../src/domain/ids.js';
import {
  backendName,
  type Credentials,
  type Provider,
  type ResourceRef,
} from '../../src/providers/provider.js';
import { createRabbitmqProvider } from '../../src/providers/rabbitmq/index.js';
import { amqpHandshake } from '../../src/providers/rabbitmq/rabbitmq-handshake.js';
import { verifiesHash } from '../../src/providers/rabbitmq/rabbitmq-password.js';
import { connectionUrl, topicPattern } from '../../src/providers/rabbitmq/rabbitmq-provider.js';
import {
  adminGet,
  assertBrokerReachable,
  mgmt,
  openTenant,
  path,
  rejection,
  targetOf,
  testRabbitmqUrl,
  urlWithVhost,
  within,
} from '../helpers/rabbitmq.js';
import { isProviderError } from '../../src/providers/provider.js';
import { bothWays } from './contract.js';

const hex = () => randomBytes(6).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The late sweep runs handshake + statistics interval + 1 s after a rotation; a short handshake window
// here (the test's held login opens well within it) keeps that test to seconds.
const HANDSHAKE_MS = 1_500;
const LATE_SWEEP_MS = HANDSHAKE_MS + 5_000 + 1_000;

describe('rabbitmq provider options', () => {
  it('refuses bad options when the provider is built, with one code', async () => {
    const bad = [
      { managementUrl: 'amqp://guest:guest@127.0.0.1:15672' },
      { managementUrl: 'http://127.0.0.1:15672' },
      { managementUrl: 'not a url' },
      { managementUrl: testRabbitmqUrl, amqpUrl: 'amqp://user:pw@127.0.0.1:5672' },
      { managementUrl: testRabbitmqUrl, amqpUrl: 'amqp://127.0.0.1:5672/vhost' },
      { managementUrl: testRabbitmqUrl, amqpUrl: 'http://127.0.0.1:5672' },
      { managementUrl: testRabbitmqUrl, maxConnections: 0 },
      { managementUrl: testRabbitmqUrl, maxQueues: 1.5 },
    ];
    for (const options of bad) {
      const error: unknown = await createRabbitmqProvider(options).catch((e: unknown) => e);
      expect(
        isProviderError(error, 'invalid_options') && error.provider === 'rabbitmq',
        JSON.stringify(options),
      ).toBe(true);
      // The message names the option, never the administrator's password.
      expect((error as Error).message).not.toContain('guest:guest');
    }
  });

  it('reads BULKHEAD_RABBITMQ_URL and BULKHEAD_RABBITMQ_AMQP_URL, refusing a URL without a login', () => {
    const config = loadConfig({
      BULKHEAD_RABBITMQ_URL: 'http://admin:s3cret@mq:15672',
      BULKHEAD_RABBITMQ_AMQP_URL: 'amqps://mq.example.com:5671',
    });
    expect(config).toMatchObject({
      rabbitmqUrl: 'http://admin:s3cret@mq:15672',
      rabbitmqAmqpUrl: 'amqps://mq.example.com:5671',
    });
    expect(() => loadConfig({ BULKHEAD_RABBITMQ_URL: 'http://mq:15672' })).toThrow(ConfigError);
    expect(() => loadConfig({ BULKHEAD_RABBITMQ_AMQP_URL: 'mq:5672' })).toThrow(/BULKHEAD_RABBITMQ_AMQP_URL/);
    expect(loadConfig({}).rabbitmqUrl).toBeUndefined();
  });

  it('derives the AMQP address from the management URL, or takes the configured one', async () => {
    for (const [amqpUrl, scheme, host, port] of [
      [undefined, 'amqp', new URL(testRabbitmqUrl).hostname, 5672],
      ['amqps://mq.example.com', 'amqps', 'mq.example.com', 5671],
    ] as const) {
      const provider = await createRabbitmqProvider({ managementUrl: testRabbitmqUrl, amqpUrl });
      const ref = { domainId: newId('domain'), resourceId: newId('resource') };
      try {
        const creds = await provider.create(ref);
        const name = backendName(ref);
        expect(creds).toMatchObject({ host, port });
        expect(creds['url']).toBe(`${scheme}://${name}:${String(creds['password'])}@${host}:${port}/${name}`);
      } finally {
        await provider.delete(ref);
        await provider.close();
      }
    }
  });

  it('percent-encodes every part of the URL it hands out', () => {
    const url = connectionUrl({
      scheme: 'amqp',
      host: '::1',
      port: 5673,
      username: 'u@x',
      password: 'p/w:@?#',
      vhost: '/',
    });
    expect(url).toBe('amqp://u%40x:p%2Fw%3A%40%3F%23@[::1]:5673/%2F');
  });
});

describe('rabbitmq provider on the real broker', () => {
  const created: ResourceRef[] = [];
  const foreign = {
    vhost: `bulkhead_test_${hex()}`,
    almost: `bh_${'x'.repeat(26)}_${hex()}`,
    user: `bulkhead_test_${hex()}`,
  };
  let provider: Provider;
  let a: ResourceRef;
  let b: ResourceRef;
  let credsA: Credentials;
  let credsB: Credentials;
  /** B's queue, holding one message B wrote. */
  const bQueue = `orders-${hex()}`;
  const bSecret = `B-SECRET-${hex()}`;

  const newRef = (): ResourceRef => {
    const ref = { domainId: newId('domain'), resourceId: newId('resource') };
    created.push(ref);
    return ref;
  };
  const vhostOf = (c: Credentials) => String(c['vhost']);
  const loginOf = (c: Credentials) => ({ username: String(c['username']), password: String(c['password']) });

  /** B's queue still holds exactly the one message B wrote. */
  async function expectBUnchanged(): Promise<void> {
    const tenant = await openTenant(String(credsB['url']));
    try {
      const { messageCount } = await tenant.channel.checkQueue(bQueue);
      expect(messageCount).toBe(1);
      const message = await tenant.channel.get(bQueue, { noAck: false });
      expect(message === false ? null : message.content.toString()).toBe(bSecret);
      if (message !== false) tenant.channel.nack(message, false, true);
    } finally {
      await tenant.close();
    }
  }

  beforeAll(async () => {
    await assertBrokerReachable();
    provider = await createRabbitmqProvider({
      managementUrl: testRabbitmqUrl,
      handshakeTimeoutMs: HANDSHAKE_MS,
    });
    a = newRef();
    b = newRef();
    [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
    const tenant = await openTenant(String(credsB['url']));
    try {
      const confirm = await tenant.connection.createConfirmChannel();
      await confirm.assertQueue(bQueue);
      confirm.sendToQueue(bQueue, Buffer.from(bSecret));
      await confirm.waitForConfirms();
    } finally {
      await tenant.close();
    }
  });

  afterAll(async () => {
    // Whatever the tests did or failed to do: nothing made here outlives the suite.
    for (const ref of created) await provider?.delete(ref).catch(() => undefined);
    await provider?.close();
    for (const name of [foreign.vhost, foreign.almost]) await mgmt('DELETE', path('vhosts', name));
    for (const name of [foreign.user, foreign.almost]) await mgmt('DELETE', path('users', name));
  });

  it('returns credentials A can use in its own vhost: a publish and consume round trip', async () => {
    expect(Object.keys(credsA).sort()).toEqual(['host', 'password', 'port', 'url', 'username', 'vhost']);
    expect(credsA).toMatchObject({ vhost: backendName(a), username: backendName(a) });
    const tenant = await openTenant(String(credsA['url']));
    try {
      const { queue } = await tenant.channel.assertQueue('', { exclusive: true });
      const received = new Promise<string>((resolve) => {
        void tenant.channel.consume(queue, (m) => m !== null && resolve(m.content.toString()), {
          noAck: true,
        });
      });
      tenant.channel.sendToQueue(queue, Buffer.from('hello from A'));
      expect(await received).toBe('hello from A');
    } finally {
      await tenant.close();
    }
  });

  it('gives the user no tags, rights on its own vhost only, confined amq.topic keys, and vhost limits', async () => {
    const name = backendName(a);
    const user = await adminGet<{
      tags: string[] | string;
      password_hash: string;
      hashing_algorithm: string;
    }>(path('users', name));
    expect(user.tags.length).toBe(0);
    expect(user.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    expect(verifiesHash(String(credsA['password']), user.password_hash)).toBe(true);
    expect(await adminGet(`${path('users', name)}/permissions`)).toEqual([
      { user: name, vhost: name, configure: '^.*$', write: '^.*$', read: '^.*$' },
    ]);
    expect(await adminGet(`${path('users', name)}/topic-permissions`)).toEqual([
      { user: name, vhost: name, exchange: 'amq.topic', write: topicPattern(name), read: topicPattern(name) },
    ]);
    expect(await adminGet(path('vhost-limits', name))).toEqual([
      { vhost: name, value: { 'max-connections': 50, 'max-queues': 100 } },
    ]);
    // Nobody else holds rights on A's vhost.
    const onVhost = await adminGet<{ user: string }[]>(`${path('vhosts', name)}/permissions`);
    expect(onVhost.map((p) => p.user)).toEqual([name]);
  });

  it("refuses A opening B's vhost, and A's password for B's user", async () => {
    const open = await amqpHandshake(targetOf(credsA), vhostOf(credsB));
    if (open.ok) open.close();
    expect(open).toMatchObject({ ok: false, stage: 'open', code: 530 });
    expect(open.ok ? '' : open.text).toMatch(/^NOT_ALLOWED - access to vhost '.*' refused for user/);
    // amqplib, as a tenant's client would try it.
    await rejection(connect(urlWithVhost(String(credsA['url']), vhostOf(credsB))));
    const login = await amqpHandshake(
      targetOf(credsB, { password: String(credsA['password']) }),
      vhostOf(credsB),
    );
    if (login.ok) login.close();
    expect(login).toMatchObject({ ok: false, stage: 'login', code: 403 });
    await expectBUnchanged();
  });

  it("refuses A declaring, publishing, consuming and deleting in B's vhost, from its own", async () => {
    const tenant = await openTenant(String(credsA['url']));
    try {
      // Names resolve in the connection's vhost only: B's queue does not exist from A's side.
      const checked = await rejection(tenant.channel.checkQueue(bQueue));
      expect((checked as { code?: number }).code).toBe(404);
      const confirm = await tenant.connection.createConfirmChannel();
      confirm.on('error', () => undefined);
      let returned = false;
      confirm.on('return', () => (returned = true));
      confirm.publish('', bQueue, Buffer.from('from A'), { mandatory: true });
      await confirm.waitForConfirms();
      expect(returned).toBe(true);
      // B's exchanges are B's: naming amq.topic from A reaches A's own.
      const ch = await tenant.connection.createChannel();
      ch.on('error', () => undefined);
      expect(((await rejection(ch.get(bQueue))) as { code?: number }).code).toBe(404);
    } finally {
      await tenant.close();
    }
    await expectBUnchanged();
  });

  it("gives A's user no use of the management API, not even for its own vhost", async () => {
    const asA = loginOf(credsA);
    const B = vhostOf(credsB);
    const A = vhostOf(credsA);
    const tries: [string, string, unknown?][] = [
      ['GET', '/overview'],
      ['GET', '/whoami'],
      ['GET', '/vhosts'],
      ['GET', path('queues', B)],
      ['GET', path('queues', A)],
      [
        'POST',
        `${path('queues', B, bQueue)}/get`,
        { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' },
      ],
      [
        'POST',
        `${path('exchanges', B, 'amq.default')}/publish`,
        { properties: {}, routing_key: bQueue, payload: 'x', payload_encoding: 'string' },
      ],
      ['PUT', path('permissions', B, asA.username), { configure: '.*', write: '.*', read: '.*' }],
      ['PUT', path('users', asA.username), { password: 'x', tags: 'administrator' }],
      ['DELETE', path('vhosts', B)],
      ['DELETE', path('connections', 'username', String(credsB['username']))],
    ];
    for (const [method, p, body] of tries) {
      const answer = await mgmt(method, p, body, asA);
      expect(answer.status, `${method} ${p}`).toBe(401);
    }
    expect((await mgmt('GET', path('permissions', B, asA.username))).status).toBe(404);
    expect((await adminGet<{ tags: unknown[] }>(path('users', asA.username))).tags).toEqual([]);
    await expectBUnchanged();
  });

  it('confines routing and binding keys on amq.topic to the vhost name', async () => {
    const name = vhostOf(credsA);
    const tenant = await openTenant(String(credsA['url']));
    try {
      const { queue } = await tenant.channel.assertQueue('', { exclusive: true });
      const bind = await rejection(tenant.channel.bindQueue(queue, 'amq.topic', '#'));
      expect((bind as { code?: number }).code).toBe(403);
      const ch = await tenant.connection.createChannel();
      ch.on('error', () => undefined);
      await ch.bindQueue(queue, 'amq.topic', `${name}.orders.#`);
      ch.publish('amq.topic', `${name}.orders.new`, Buffer.from('ok'));
      const got = await (async () => {
        for (let i = 0; i < 50; i++) {
          const m = await ch.get(queue, { noAck: true });
          if (m !== false) return m.content.toString();
          await sleep(20);
        }
        return null;
      })();
      expect(got).toBe('ok');
      ch.publish('amq.topic', 'orders.new', Buffer.from('outside'));
      const refused = await rejection(ch.checkQueue(queue));
      expect(refused.message).toMatch(/403 \(ACCESS-REFUSED\).*access to topic 'orders\.new'/);
      // Another topic exchange of the tenant's own is not confined.
      const own = await tenant.connection.createChannel();
      await own.assertExchange('events', 'topic', { autoDelete: true });
      await own.bindQueue(queue, 'events', '#');
    } finally {
      await tenant.close();
    }
  });

  it('enforces the vhost limits on connections and queues', async () => {
    const limited = await createRabbitmqProvider({
      managementUrl: testRabbitmqUrl,
      maxConnections: 2,
      maxQueues: 3,
    });
    const ref = newRef();
    const creds = await limited.create(ref);
    const held = [await openTenant(String(creds['url'])), await openTenant(String(creds['url']))];
    try {
      const third = await amqpHandshake(targetOf(creds), vhostOf(creds));
      if (third.ok) third.close();
      expect(third).toMatchObject({ ok: false, stage: 'open', code: 530 });
      expect(third.ok ? '' : third.text).toMatch(/connection limit \(2\) is reached/);
      const ch = held[0]!.channel;
      for (const q of ['q1', 'q2', 'q3']) await ch.assertQueue(q);
      const fourth = await rejection(ch.assertQueue('q4'));
      expect(fourth.message).toMatch(/406 \(PRECONDITION-FAILED\).*queue limit in vhost .* \(3\) is reached/);
    } finally {
      for (const t of held) await t.close();
      await limited.delete(ref);
      await limited.close();
    }
  });

  it('rotates the password with credentials(): the old one is refused and live connections are closed', async () => {
    const c = newRef();
    const before = await provider.create(c);
    const live = await openTenant(String(before['url']));
    await live.channel.assertQueue('kept');
    const after = await provider.credentials(c);
    expect(after).toMatchObject({ username: before['username'], vhost: before['vhost'] });
    expect(after['password']).not.toBe(before['password']);
    expect(await within(live.closed, 5_000)).toBe(true);
    await rejection(live.channel.checkQueue('kept'));
    const old = await amqpHandshake(targetOf(before), vhostOf(before));
    expect(old).toMatchObject({ ok: false, stage: 'login', code: 403 });
    const fresh = await openTenant(String(after['url']));
    try {
      // Rotation replaces the login, not the data.
      expect((await fresh.channel.checkQueue('kept')).queue).toBe('kept');
    } finally {
      await fresh.close();
    }
  });

  it('closes, after the handshake window, a connection that logged in with the old password before rotating', async () => {
    const c = newRef();
    const before = await provider.create(c);
    let after: Credentials | undefined;
    // Log in with the old password, rotate, and only then send connection.open: the broker checks the
    // password at login, so this opens, and the first sweep cannot see it yet.
    const held = await amqpHandshake(targetOf(before), vhostOf(before), async () => {
      after = await provider.credentials(c);
      await sleep(300);
    });
    if (!held.ok) {
      // A broker that re-checks at connection.open closes the gap by itself.
      expect(held.stage).toBe('open');
      return;
    }
    try {
      // A client with the new password, connected once the broker's Date header has moved on, survives.
      await sleep(2_100);
      const fresh = await openTenant(String(after!['url']));
      try {
        expect(await within(held.closed, LATE_SWEEP_MS + 5_000)).toBe(true);
        expect((await fresh.channel.assertQueue('still-here')).queue).toBe('still-here');
      } finally {
        await fresh.close();
      }
    } finally {
      held.close();
    }
  }, 30_000);

  it('does not stop live connections by removing permissions, which is why delete closes them', async () => {
    const c = newRef();
    const creds = await provider.create(c);
    const live = await openTenant(String(creds['url']));
    try {
      const { queue } = await live.channel.assertQueue('', { exclusive: true });
      const received: string[] = [];
      await live.channel.consume(queue, (m) => m !== null && received.push(m.content.toString()), {
        noAck: true,
      });
      live.channel.sendToQueue(queue, Buffer.from('before'));
      for (let i = 0; i < 50 && received.length < 1; i++) await sleep(20);
      expect(received).toEqual(['before']);
      const revoked = await mgmt('DELETE', path('permissions', vhostOf(creds), String(creds['username'])));
      expect(revoked.status).toBe(204);
      await sleep(200);
      // The channel checked these rights once and keeps them: it still publishes, the consumer still gets.
      live.channel.sendToQueue(queue, Buffer.from('after'));
      for (let i = 0; i < 50 && received.length < 2; i++) await sleep(20);
      expect(received).toEqual(['before', 'after']);
      expect(
        await adminGet<unknown[]>(path('connections', 'username', String(creds['username']))),
      ).toHaveLength(1);
      // Only something it has not done before is checked again, and refused.
      expect((await rejection(live.channel.assertQueue('new-one'))).message).toMatch(
        /403 \(ACCESS-REFUSED\)/,
      );
    } finally {
      await live.close();
    }
  });

  it('ends live connections and open channels on delete, and removes the vhost, its queues and the user', async () => {
    const d = newRef();
    const creds = await provider.create(d);
    const name = backendName(d);
    const live = await openTenant(String(creds['url']));
    await live.channel.assertQueue('work', { durable: true });
    live.channel.sendToQueue('work', Buffer.from('pending'));
    let cancelled = false;
    await live.channel.consume('work', (m) => (cancelled ||= m === null), { noAck: false });
    const published = await live.connection.createChannel();
    published.on('error', () => undefined);
    await provider.delete(d);
    expect(await within(live.closed, 5_000)).toBe(true);
    // The next operation on the deleted resource's open channels fails.
    await rejection(live.channel.checkQueue('work'));
    expect(() => published.publish('', 'work', Buffer.from('after delete'))).toThrow();
    expect((await mgmt('GET', path('vhosts', name))).status).toBe(404);
    expect((await mgmt('GET', path('users', name))).status).toBe(404);
    expect((await mgmt('GET', path('queues', name, 'work'))).status).toBe(404);
    expect(await adminGet<unknown[]>(path('connections', 'username', name))).toEqual([]);
    const login = await amqpHandshake(targetOf(creds), name);
    expect(login).toMatchObject({ ok: false, stage: 'login', code: 403 });
    expect(await provider.inspect(d)).toMatchObject({ exists: false });
    expect((await provider.listOwned()).map((o) => o.name)).not.toContain(name);
  });

  it('inspects a resource without showing a secret', async () => {
    const found = await provider.inspect(a);
    expect(found).toEqual({
      exists: true,
      details: {
        vhost: backendName(a),
        vhostExists: true,
        user: backendName(a),
        userExists: true,
        userTags: '',
        permissionsOnVhost: true,
        maxConnections: 50,
        maxQueues: 100,
      },
    });
    expect(JSON.stringify(found)).not.toContain(String(credsA['password']));
  });

  it("lists every resource's vhost and user by backend name, and nothing else", async () => {
    for (const name of [foreign.vhost, foreign.almost]) {
      expect((await mgmt('PUT', path('vhosts', name), {})).status).toBe(201);
    }
    for (const name of [foreign.user, foreign.almost]) {
      expect((await mgmt('PUT', path('users', name), { password: hex(), tags: '' })).status).toBe(201);
    }
    const owned = await provider.listOwned();
    expect(owned).toEqual(
      expect.arrayContaining([
        { ref: a, name: backendName(a) },
        { ref: b, name: backendName(b) },
      ]),
    );
    for (const o of owned) expect(o.name).toBe(backendName(o.ref));
    const names = owned.map((o) => o.name);
    for (const other of Object.values(foreign)) expect(names).not.toContain(other);
    expect(new Set(names).size).toBe(names.length);
  });

  it('probes A against B and B against A: every attempt refused, nothing left behind', async () => {
    for (const [x, y] of bothWays({ ref: a, credentials: credsA }, { ref: b, credentials: credsB })) {
      const report = await provider.probeIsolation(x, y);
      expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
      expect(report.refused).toBe(true);
      expect(report.attempts.map((t) => t.attempt)).toEqual(
        expect.arrayContaining([
          "log in as B's user with A's password",
          "open B's vhost with A's credentials",
          "publish to B's queue",
          "consume from B's queue",
          "list B's queues through the management API",
          "B's canary after all attempts",
        ]),
      );
    }
    for (const vhost of [vhostOf(credsA), vhostOf(credsB)]) {
      const queues = await adminGet<{ name: string }[]>(`${path('queues', vhost)}?columns=name`);
      expect(queues.filter((q) => q.name.startsWith('bulkhead-probe-'))).toEqual([]);
    }
    await expectBUnchanged();
  });

  it('probes honestly: when B opens its vhost to A, the probe says so', async () => {
    const [e, f] = [newRef(), newRef()];
    const [credsE, credsF] = await Promise.all([provider.create(e), provider.create(f)]);
    const opened = await mgmt('PUT', path('permissions', backendName(f), backendName(e)), {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    expect(opened.status).toBe(201);
    const report = await provider.probeIsolation(
      { ref: e, credentials: credsE },
      { ref: f, credentials: credsF },
    );
    expect(report.refused).toBe(false);
    const breached = report.attempts.filter((t) => !t.refused).map((t) => t.attempt);
    expect(breached).toEqual(
      expect.arrayContaining([
        "open B's vhost with A's credentials",
        "declare a queue in B's vhost",
        "find a right of A's user on B's vhost",
        "B's canary after all attempts",
      ]),
    );
    // The management API stays closed to a user without tags, whatever its vhost permissions.
    expect(
      report.attempts.find((t) => t.attempt === "list B's queues through the management API")?.refused,
    ).toBe(true);
  });
});
