// The Redis provider on the real test server: credentials a tenant uses through the real `redis-cli` and
// ioredis, the exact rules of its ACL user, re-provisioning, rotation, deletion, listing and the probe.
// Tests assert what must not happen: a rotated or deleted login still working, a connection opened with
// it staying open, a key left behind, a widened rule surviving. A missing server fails the suite. What
// every provider promises (create, credentials, delete ending sessions, idempotency, the probe both ways on
// a server set up as production) is in contract.ts, run by redis-contract.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import {
  backendName,
  type Credentials,
  type Provider,
  type ResourceRef,
} from '../../src/providers/provider.js';
import { createRedisProvider } from '../../src/providers/redis/index.js';
import {
  isRefusal,
  openTestAdmin,
  redisCli,
  redisCliSubscribe,
  startPrivateRedis,
  tenantRedis,
  testRedisUrl,
} from '../helpers/redis.js';
import { isProviderError } from '../../src/providers/provider.js';
import { bothWays } from './contract.js';

const hex = () => randomBytes(6).toString('hex');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const newRef = (): ResourceRef => ({ domainId: newId('domain'), resourceId: newId('resource') });

/** ACL GETUSER as an object, or null. */
async function getUser(admin: Redis, name: string): Promise<Record<string, unknown> | null> {
  const reply = (await admin.call('ACL', 'GETUSER', name)) as unknown[] | null;
  if (reply === null) return null;
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}

async function keysUnder(admin: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/** Resolves once `redis` has seen its connection closed (ioredis emits 'end' and does not reconnect). */
function ended(redis: Redis): Promise<void> {
  return redis.status === 'end' ? Promise.resolve() : new Promise((resolve) => redis.once('end', resolve));
}

describe('redis provider options', () => {
  it('refuses bad options when the provider is built, with one code', async () => {
    const bad = [
      { adminUrl: 'postgres://x' },
      { adminUrl: 'not a url' },
      { adminUrl: testRedisUrl, publicPort: 70_000 },
      { adminUrl: testRedisUrl, publicPort: 0 },
    ];
    for (const options of bad) {
      const error: unknown = await createRedisProvider(options).catch((e: unknown) => e);
      expect(
        isProviderError(error, 'invalid_options') && error.provider === 'redis',
        JSON.stringify(options),
      ).toBe(true);
    }
  });

  it('hands out the public host and port it is told, and ignores a database in the admin URL', async () => {
    const admin = await openTestAdmin();
    const provider = await createRedisProvider({
      allowOpenDefaultUser: true,
      adminUrl: `${testRedisUrl}/5`,
      publicHost: '::1',
      publicPort: 7000,
    });
    const ref = newRef();
    try {
      const creds = await provider.create(ref);
      expect(creds).toMatchObject({ host: '::1', port: 7000 });
      expect(creds['url']).toBe(`redis://${backendName(ref)}:${String(creds['password'])}@[::1]:7000`);
      // Tenants cannot SELECT, so they work in database 0: that is where the provider looks for keys.
      await admin.set(`${String(creds['keyPrefix'])}k`, 'v');
      expect(await provider.inspect(ref)).toMatchObject({ details: { keys: 1 } });
    } finally {
      await provider.delete(ref);
      await provider.close();
      await admin.quit();
    }
  });
});

describe('redis provider', () => {
  const created: ResourceRef[] = [];
  const foreignUsers = [`bulkhead_test_${hex()}`, `bh_${'x'.repeat(26)}_${hex()}`];
  let provider: Provider;
  let admin: Redis;
  let a: ResourceRef;
  let b: ResourceRef;
  let credsA: Credentials;
  let credsB: Credentials;
  const opened: Redis[] = [];

  const ref = (): ResourceRef => {
    const r = newRef();
    created.push(r);
    return r;
  };
  const tenant = async (creds: Credentials) => {
    const redis = await tenantRedis(creds);
    opened.push(redis);
    return redis;
  };
  const prefixOf = (creds: Credentials) => String(creds['keyPrefix']);

  beforeAll(async () => {
    admin = await openTestAdmin(); // no Redis: the suite fails here, it is not skipped
    provider = await createRedisProvider({ adminUrl: testRedisUrl, allowOpenDefaultUser: true });
    a = ref();
    b = ref();
    [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
  });

  afterAll(async () => {
    for (const redis of opened) redis.disconnect();
    for (const r of created) await provider.delete(r).catch(() => undefined);
    for (const name of foreignUsers) await admin.call('ACL', 'DELUSER', name);
    await provider?.close();
    await admin?.quit();
  });

  it('returns credentials A uses for its own keys through ioredis and redis-cli', async () => {
    expect(Object.keys(credsA).sort()).toEqual(
      ['channelPrefix', 'host', 'keyPrefix', 'password', 'port', 'url', 'username'].sort(),
    );
    expect(credsA).toMatchObject({
      host: '127.0.0.1',
      port: 6379,
      username: backendName(a),
      keyPrefix: `bh:${a.domainId}:${a.resourceId}:`,
      channelPrefix: `bh:${a.domainId}:${a.resourceId}:`,
    });
    expect(String(credsA['password'])).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const p = prefixOf(credsA);

    const redis = await tenant(credsA);
    await redis.call('CLIENT', 'SETNAME', 'tenant-a');
    expect(await redis.ping()).toBe('PONG');
    await redis.set(`${p}s`, 'one', 'EX', 60);
    await redis.hset(`${p}h`, 'f', 'v');
    await redis.rpush(`${p}l`, 'x', 'y');
    await redis.zadd(`${p}z`, 1, 'm');
    await redis.xadd(`${p}x`, '*', 'f', 'v');
    expect(await redis.multi().get(`${p}s`).hgetall(`${p}h`).lrange(`${p}l`, 0, -1).exec()).toEqual([
      [null, 'one'],
      [null, { f: 'v' }],
      [null, ['x', 'y']],
    ]);
    expect(await redis.type(`${p}z`)).toBe('zset');
    expect(await redis.object('ENCODING', `${p}s`)).toBe('embstr');
    expect(await redis.call('MEMORY', 'USAGE', `${p}s`)).toBeGreaterThan(0);
    expect(await redis.ttl(`${p}s`)).toBeGreaterThan(0);
    expect(await redis.call('CLIENT', 'GETNAME')).toBe('tenant-a');

    for (const via of ['flags', 'url'] as const) {
      expect(await redisCli(credsA, ['SET', `${p}cli-${via}`, via], via)).toEqual({
        code: 0,
        stdout: 'OK',
        stderr: '',
      });
      expect(await redisCli(credsA, ['GET', `${p}cli-${via}`], via)).toMatchObject({
        stdout: via,
        stderr: '',
      });
    }
    expect(await redis.del(`${p}s`, `${p}h`, `${p}l`, `${p}z`, `${p}x`, `${p}cli-flags`, `${p}cli-url`)).toBe(
      7,
    );
  });

  it('gives A pub/sub on its own prefix, through ioredis and redis-cli', async () => {
    const p = prefixOf(credsA);
    const sub = await tenant(credsA);
    const got: string[] = [];
    sub.on('message', (channel: string, message: string) => got.push(`${channel} ${message}`));
    sub.on('pmessage', (_pattern: string, channel: string, message: string) =>
      got.push(`p ${channel} ${message}`),
    );
    await sub.subscribe(`${p}news`);
    // Channel patterns are matched literally: the one pattern A may subscribe to is its whole prefix.
    await sub.psubscribe(`${p}*`);
    expect(await redisCli(credsA, ['PUBLISH', `${p}news`, 'hello'])).toMatchObject({
      stdout: '2',
      stderr: '',
    });
    await expect.poll(() => got.sort()).toEqual([`${p}news hello`, `p ${p}news hello`]);

    const cli = redisCliSubscribe(credsA, ['SUBSCRIBE', `${p}cli`]);
    try {
      await cli.waitFor('subscribe');
      const pub = await tenant(credsA);
      expect(await pub.publish(`${p}cli`, 'to-cli')).toBe(2); // redis-cli and A's pattern subscription
      await cli.waitFor('to-cli');
    } finally {
      cli.stop();
    }
  });

  it('sets exactly the narrow rules, and Redis keeps only a hash of the password', async () => {
    const user = await getUser(admin, backendName(a));
    expect(user).not.toBeNull();
    const flags = (user!['flags'] as string[]).sort();
    expect(flags).toContain('on');
    for (const wide of ['nopass', 'allkeys', 'allchannels', 'allcommands', 'off'])
      expect(flags).not.toContain(wide);
    expect(user!['passwords']).toEqual([sha256(String(credsA['password']))]);
    expect(user!['keys']).toBe(`~${prefixOf(credsA)}*`);
    expect(user!['channels']).toBe(`&${prefixOf(credsA)}*`);
    expect(user!['selectors']).toEqual([]);
    const commands = String(user!['commands']);
    expect(commands.startsWith('+@all ')).toBe(true);
    for (const rule of [
      '-@dangerous',
      '-@scripting',
      '-client',
      '+client|setname',
      '-memory',
      '+memory|usage',
    ]) {
      expect(commands.split(' '), commands).toContain(rule);
    }
  });

  it('lets A run only commands that name their keys or channels, or concern its own connection', async () => {
    // Every command and subcommand this server knows, each asked of ACL DRYRUN with arguments that
    // are A's own keys and channels: what remains allowed is what A's user may run at all.
    const p = prefixOf(credsA);
    const info = (await admin.call('COMMAND', 'INFO')) as unknown[][];
    const commands: { name: string; arity: number; keyed: boolean }[] = [];
    const add = (c: unknown[]) =>
      commands.push({
        name: String(c[0]),
        arity: Number(c[1]),
        keyed: Array.isArray(c[8]) && c[8].length > 0,
      });
    for (const c of info) {
      const subcommands = (c[9] as unknown[][] | undefined) ?? [];
      if (subcommands.length === 0) add(c);
      for (const s of subcommands) add(s);
    }
    const allowed: string[] = [];
    for (const c of commands) {
      const words = c.name.split('|');
      const args = [...words];
      while (args.length < Math.max(Math.abs(c.arity), words.length)) args.push(`${p}*`);
      const verdict = await admin.call('ACL', 'DRYRUN', backendName(a), ...args);
      if (verdict === 'OK') allowed.push(c.name);
    }
    const channelCommands = [
      'subscribe',
      'psubscribe',
      'ssubscribe',
      'unsubscribe',
      'punsubscribe',
      'sunsubscribe',
      'publish',
      'spublish',
    ];
    // Reviewed by hand: each concerns only the connection that sends it, or describes the command table.
    const connectionOnly = [
      'auth',
      'hello',
      'ping',
      'echo',
      'quit',
      'reset',
      'time',
      'lolwut',
      'multi',
      'exec',
      'discard',
      'unwatch',
      'readonly',
      'readwrite',
      'asking',
      'client|setname',
      'client|getname',
      'client|setinfo',
      'command',
      'command|count',
      'command|docs',
      'command|getkeys',
      'command|getkeysandflags',
      'command|info',
      'command|list',
    ];
    const byName = new Map(commands.map((c) => [c.name, c]));
    const unexplained = allowed.filter(
      (name) =>
        !byName.get(name)!.keyed &&
        !channelCommands.includes(name) &&
        !connectionOnly.includes(name) &&
        !name.endsWith('|help'),
    );
    expect(unexplained).toEqual([]);
    // Named by the rules, and keyed or harmless-looking, so the property above would not catch them.
    const mustDeny = [
      'keys',
      'scan',
      'randomkey',
      'dbsize',
      'info',
      'flushall',
      'flushdb',
      'select',
      'move',
      'copy',
      'swapdb',
      'config|get',
      'config|set',
      'debug',
      'acl|list',
      'acl|whoami',
      'acl|getuser',
      'monitor',
      'client|list',
      'client|kill',
      'client|id',
      'client|info',
      'client|tracking',
      'client|pause',
      'module|list',
      'script|load',
      'script|exists',
      'eval',
      'evalsha',
      'eval_ro',
      'fcall',
      'function|list',
      'function|load',
      'migrate',
      'sync',
      'psync',
      'replicaof',
      'shutdown',
      'save',
      'bgsave',
      'latency|latest',
      'memory|stats',
      'memory|doctor',
      'memory|purge',
      'cluster|getkeysinslot',
      'cluster|nodes',
      'wait',
      'pubsub|channels',
      'pubsub|numsub',
      'pubsub|numpat',
      'slowlog|get',
      'sort',
      'sort_ro',
      'restore',
    ].filter((name) => byName.has(name));
    expect(allowed.filter((name) => mustDeny.includes(name))).toEqual([]);
    for (const name of [
      'get',
      'set',
      'del',
      'exists',
      'type',
      'ttl',
      'object|encoding',
      'memory|usage',
      'hset',
      'xadd',
      'watch',
      'subscribe',
      'publish',
      'multi',
      'exec',
      'auth',
      'hello',
      'client|setname',
    ]) {
      expect(allowed, name).toContain(name);
    }
  });

  it('creates again keeping only the latest password, as a hash; redis-cli logs in with it alone', async () => {
    const c = ref();
    const first = await provider.create(c);
    const second = await provider.create(c);
    expect((await getUser(admin, backendName(c)))!['passwords']).toEqual([
      sha256(String(second['password'])),
    ]);
    expect(await redisCli(second, ['PING'])).toMatchObject({ stdout: 'PONG', stderr: '' });
    const old = await redisCli(first, ['PING']);
    expect(old.stderr).toContain('WRONGPASS');
  });

  it('narrows a user someone widened by hand when it is provisioned again', async () => {
    const bKey = `${prefixOf(credsB)}secret`;
    await (await tenant(credsB)).set(bKey, 'B-SECRET');
    const c = ref();
    const before = await provider.create(c);
    const extra = `extra-${hex()}`;
    await admin.call('ACL', 'SETUSER', backendName(c), '~*', '&*', '+@all', `>${extra}`);
    const widened = await tenant(before);
    expect(await widened.get(bKey)).toBe('B-SECRET');

    const after = await provider.create(c);
    // The connection made under the wide rules is gone, and the extra password with it.
    await ended(widened);
    await expect(widened.get(bKey)).rejects.toThrow();
    await expect(
      tenantRedis({ ...after, url: String(after['url']).replace(String(after['password']), extra) }),
    ).rejects.toThrow(/WRONGPASS/);
    const narrowed = await tenant(after);
    await expect(narrowed.get(bKey)).rejects.toThrow(/^NOPERM/);
    expect(isRefusal(await redisCli(after, ['GET', bKey]))).toBe(true);
    // Exactly the rules of a user that was never widened.
    const [userC, userB] = await Promise.all([
      getUser(admin, backendName(c)),
      getUser(admin, backendName(b)),
    ]);
    const strip = (u: Record<string, unknown> | null, creds: Credentials) =>
      JSON.stringify({ ...u, passwords: [] }).replaceAll(prefixOf(creds), '<prefix>');
    expect(strip(userC, after)).toBe(strip(userB, credsB));
  });

  it('rotates the password with credentials(): the old one is refused and its connections end', async () => {
    const c = ref();
    const before = await provider.create(c);
    const open = await tenant(before);
    await open.set(`${prefixOf(before)}k`, 'v');
    const cli = redisCliSubscribe(before, ['SUBSCRIBE', `${prefixOf(before)}ch`]);
    await cli.waitFor('subscribe');

    const after = await provider.credentials(c);
    expect(after).toMatchObject({ username: before['username'], keyPrefix: before['keyPrefix'] });
    expect(after['password']).not.toBe(before['password']);
    await ended(open);
    await expect(open.get(`${prefixOf(before)}k`)).rejects.toThrow();
    await cli.exited;

    await expect(tenantRedis(before)).rejects.toThrow(/WRONGPASS/);
    expect((await redisCli(before, ['PING'])).stderr).toContain('WRONGPASS');
    // The data stays; only the login changed.
    expect(await redisCli(after, ['GET', `${prefixOf(after)}k`])).toMatchObject({ stdout: 'v', stderr: '' });
  });

  it('deletes: ends open connections, removes the user and every key, and leaves the rest alone', async () => {
    const [d, neighbour] = [ref(), ref()];
    const [creds, neighbourCreds] = await Promise.all([provider.create(d), provider.create(neighbour)]);
    const p = prefixOf(creds);
    const redis = await tenant(creds);
    // More keys than one SCAN step looks at, of several types.
    const pipeline = redis.pipeline();
    for (let i = 0; i < 2500; i++) pipeline.set(`${p}k${i}`, i);
    pipeline.hset(`${p}h`, 'f', 'v').xadd(`${p}x`, '*', 'f', 'v').sadd(`${p}s`, 'm');
    await pipeline.exec();
    await (await tenant(neighbourCreds)).set(`${prefixOf(neighbourCreds)}kept`, 'mine');
    const outside = `bulkhead-test-outside-${hex()}`;
    await admin.set(outside, 'kept', 'EX', 60);
    const cli = redisCliSubscribe(creds, ['SUBSCRIBE', `${p}ch`]);
    await cli.waitFor('subscribe');

    await provider.delete(d);

    await ended(redis);
    await expect(redis.get(`${p}k1`)).rejects.toThrow();
    await cli.exited;
    expect(await getUser(admin, backendName(d))).toBeNull();
    expect(await keysUnder(admin, p)).toEqual([]);
    expect(await admin.get(`${prefixOf(neighbourCreds)}kept`)).toBe('mine');
    expect(await admin.get(outside)).toBe('kept');
    await expect(tenantRedis(creds)).rejects.toThrow(/WRONGPASS/);
    expect((await redisCli(creds, ['PING'])).stderr).toContain('WRONGPASS');
    expect((await provider.listOwned()).map((o) => o.name)).not.toContain(backendName(d));
    expect(await provider.inspect(d)).toMatchObject({ exists: false, details: { keys: 0 } });

    // A second delete finds nothing to do, and a resource that never existed is fine.
    const users = ((await admin.call('ACL', 'USERS')) as string[]).sort();
    await provider.delete(d);
    await provider.delete(newRef());
    expect(((await admin.call('ACL', 'USERS')) as string[]).sort()).toEqual(users);
    await admin.del(outside);
  });

  it('inspects a resource without showing a secret', async () => {
    await (await tenant(credsA)).set(`${prefixOf(credsA)}inspected`, 'x');
    const found = await provider.inspect(a);
    expect(found).toEqual({
      exists: true,
      details: {
        user: backendName(a),
        userExists: true,
        enabled: true,
        keyPrefix: prefixOf(credsA),
        keys: 1,
        keyPatterns: `~${prefixOf(credsA)}*`,
        channelPatterns: `&${prefixOf(credsA)}*`,
        aclPersisted: false,
      },
    });
    expect(JSON.stringify(found)).not.toContain(String(credsA['password']));
  });

  it("lists every resource's user by its backend name, and nothing else", async () => {
    for (const name of foreignUsers) await admin.call('ACL', 'SETUSER', name, 'off');
    const owned = await provider.listOwned();
    expect(owned).toEqual(
      expect.arrayContaining([
        { ref: a, name: backendName(a) },
        { ref: b, name: backendName(b) },
      ]),
    );
    for (const o of owned) expect(o.name).toBe(backendName(o.ref));
    const names = owned.map((o) => o.name);
    for (const name of [...foreignUsers, 'default']) expect(names).not.toContain(name);
  });

  it('probes A against B: everything refused but an open default user, which it reports', async () => {
    const flags = (await getUser(admin, 'default'))!['flags'] as string[];
    const defaultOpen = flags.includes('on') && flags.includes('nopass');
    const bKey = `${prefixOf(credsB)}secret`;
    await (await tenant(credsB)).set(bKey, 'B-SECRET');
    for (const [x, y] of bothWays({ ref: a, credentials: credsA }, { ref: b, credentials: credsB })) {
      const report = await provider.probeIsolation(x, y);
      const breached = report.attempts.filter((t) => !t.refused).map((t) => t.attempt);
      // The test server's default user needs no password (the suites connect without one): anyone can
      // log in as it, which the probe must say rather than hide.
      expect(breached).toEqual(defaultOpen ? ["switch to the server's default user, then read B's key"] : []);
      expect(report.refused).toBe(!defaultOpen);
      expect(report.attempts.length).toBeGreaterThanOrEqual(40);
      expect(report.attempts.map((t) => t.attempt)).toEqual(
        expect.arrayContaining([
          "read B's key",
          "write B's key",
          'list every key with SCAN',
          'flush every database',
          "subscribe to B's channels by pattern",
          "read B's key from a script",
          "B's canary after all attempts",
        ]),
      );
      expect(JSON.stringify(report)).not.toContain(String(x.credentials['password']));
    }
    expect(await admin.get(bKey)).toBe('B-SECRET');
    expect((await keysUnder(admin, prefixOf(credsB))).filter((k) => k.includes('bulkhead-probe-'))).toEqual(
      [],
    );
    expect((await keysUnder(admin, prefixOf(credsA))).filter((k) => k.includes('bulkhead-probe-'))).toEqual(
      [],
    );
  });

  it('probes honestly: when A has been given wider rules, the probe says so', async () => {
    const [e, f] = [ref(), ref()];
    const [credsE, credsF] = await Promise.all([provider.create(e), provider.create(f)]);
    await admin.call('ACL', 'SETUSER', backendName(e), '~*', '&*');
    const report = await provider.probeIsolation(
      { ref: e, credentials: credsE },
      { ref: f, credentials: credsF },
    );
    expect(report.refused).toBe(false);
    const breached = report.attempts.filter((t) => !t.refused);
    expect(breached.map((t) => t.attempt)).toEqual(
      expect.arrayContaining([
        "read B's key",
        "write B's key",
        "subscribe to B's channel",
        "B's canary after all attempts",
      ]),
    );
    expect(breached.find((t) => t.attempt === "read B's key")!.detail).toContain("A read B's canary");
    // Server-wide commands stay refused: widening keys and channels gave no command.
    expect(report.attempts.find((t) => t.attempt === 'flush every database')!.refused).toBe(true);
  });
});

describe('redis provider on a server set up as production should be', () => {
  it('probes every attempt refused, and keeps users in the ACL file across a restart', async () => {
    const server = await startPrivateRedis();
    let provider = await createRedisProvider({ adminUrl: server.adminUrl });
    try {
      const [a, b] = [newRef(), newRef()];
      const [credsA, credsB] = await Promise.all([provider.create(a), provider.create(b)]);
      const report = await provider.probeIsolation(
        { ref: a, credentials: credsA },
        { ref: b, credentials: credsB },
      );
      expect(report.attempts.filter((t) => !t.refused)).toEqual([]);
      expect(report.refused).toBe(true);
      expect(await provider.inspect(a)).toMatchObject({ details: { aclPersisted: true } });

      await provider.close();
      await server.restart();
      provider = await createRedisProvider({ adminUrl: server.adminUrl });
      expect((await provider.listOwned()).map((o) => o.name).sort()).toEqual(
        [backendName(a), backendName(b)].sort(),
      );
      const redis = await tenantRedis(credsA);
      try {
        expect(await redis.set(`${String(credsA['keyPrefix'])}k`, 'v')).toBe('OK');
      } finally {
        redis.disconnect();
      }
      const rotated = await provider.credentials(a);
      await provider.delete(b);
      await provider.close();
      await server.restart();
      provider = await createRedisProvider({ adminUrl: server.adminUrl });
      expect((await provider.listOwned()).map((o) => o.name)).toEqual([backendName(a)]);
      await expect(tenantRedis(credsA)).rejects.toThrow(/WRONGPASS/);
      (await tenantRedis(rotated)).disconnect();
    } finally {
      await provider.close();
      await server.stop();
    }
  });

  it('hands out no credentials while the default user is open, unless told the server is for development', async () => {
    const server = await startPrivateRedis();
    const admin = await openTestAdmin(server.adminUrl);
    const provider = await createRedisProvider({ adminUrl: server.adminUrl });
    const lenient = await createRedisProvider({ adminUrl: server.adminUrl, allowOpenDefaultUser: true });
    try {
      await admin.call('ACL', 'SETUSER', 'default', 'on', 'nopass');
      const ref = newRef();
      const error: unknown = await provider.create(ref).catch((e: unknown) => e);
      expect(isProviderError(error, 'unsafe_server') && error.provider === 'redis').toBe(true);
      expect(await provider.inspect(ref)).toMatchObject({ exists: false });
      const creds = await lenient.create(ref);
      expect(creds['username']).toBe(backendName(ref));
      await lenient.delete(ref);
    } finally {
      admin.disconnect();
      await provider.close();
      await lenient.close();
      await server.stop();
    }
  });
});
