// The isolation probe: logs in with A's credentials, exactly as A would, and tries B's keys and channels
// and every command that would reveal or touch the rest of the server. B's side is a canary key that B
// itself writes with its own credentials, so a refusal proves something, and it is checked afterwards.
// Attempts that would harm the server if they succeeded (FLUSHALL, SHUTDOWN …) are first checked with
// ACL DRYRUN on the admin connection and only sent for real when Redis says it would refuse them.
import { randomBytes } from 'node:crypto';
import { probeSetupError } from '../probe.js';
import { type ProbeAttempt, type ProbeReport, type ProbeSide, ProviderError } from '../provider.js';
import { tenantNames } from './redis-acl.js';
import { connectTenant, replyCode, type AdminClient, type Arg, type TenantClient } from './redis-client.js';

interface Side {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly prefix: string;
}

/** The answers that mean the server refused: no permission, or no such login. */
const REFUSALS = new Set(['NOPERM', 'WRONGPASS', 'NOAUTH']);

const setupError = (message: string, cause?: unknown) => probeSetupError('redis', message, cause);

function sideOf(label: 'A' | 'B', side: ProbeSide): Side {
  const names = tenantNames(side.ref);
  const c = side.credentials;
  const { url, username, password } = c;
  if (typeof url !== 'string' || typeof password !== 'string' || username !== names.user) {
    throw setupError(`${label}'s credentials are not those of ${label}'s resource`);
  }
  return { url, user: names.user, password, prefix: names.prefix };
}

/** A short, secret-free account of a reply, for a report. */
function summary(reply: unknown): string {
  const text = JSON.stringify(reply) ?? String(reply);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Every attempt A makes against B, each reported with whether the server refused it.
 *
 * @example
 * const report = await probeRedisIsolation(admin, a, b);
 * if (!report.refused) alert(report.attempts.filter((x) => !x.refused));
 */
export async function probeRedisIsolation(
  admin: AdminClient,
  a: ProbeSide,
  b: ProbeSide,
): Promise<ProbeReport> {
  const A = sideOf('A', a);
  const B = sideOf('B', b);
  if (A.user === B.user) throw setupError('A and B are the same resource');
  const marker = `bulkhead-probe-${randomBytes(8).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const canary = `${B.prefix}${marker}`;
  const channel = `${B.prefix}${marker}`;

  let bClient: TenantClient;
  try {
    bClient = await connectTenant(B.url);
    // Expires by itself, so a probe that dies midway leaves nothing in B's keyspace for long.
    await bClient.call('SET', canary, secret, 'PX', 120_000);
  } catch (error) {
    throw setupError("B's credentials do not write B's own keys", error);
  }

  const attempts: ProbeAttempt[] = [];
  /** Runs `fn` on a fresh connection of A's, so no attempt inherits another's state (SELECT, AUTH …). */
  const asA = async <T>(fn: (c: TenantClient) => Promise<T>): Promise<T> => {
    let client: TenantClient;
    try {
      client = await connectTenant(A.url);
    } catch (error) {
      throw setupError("A's credentials do not connect", error);
    }
    try {
      return await fn(client);
    } finally {
      client.disconnect();
    }
  };
  const record = async (name: string, fn: () => Promise<string>): Promise<void> => {
    try {
      attempts.push({ attempt: name, refused: false, detail: await fn() });
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      const code = replyCode(error);
      // No reply at all (network, timeout) proves nothing either way.
      if (code === undefined) throw setupError(`the probe could not make its attempt "${name}"`, error);
      const message = (error as Error).message;
      // Any other error reply came after the permission check passed: the command was allowed.
      attempts.push(
        REFUSALS.has(code)
          ? { attempt: name, refused: true, detail: `refused: ${message}` }
          : { attempt: name, refused: false, detail: `allowed, then failed: ${message}` },
      );
    }
  };
  /** One command as A; when the server runs it, the detail says what A got back. */
  const tryCommand = (name: string, command: Arg[]) =>
    record(name, () =>
      asA(async (c) => {
        // Lower case: ioredis tracks subscriptions by the lower-case name and crashes on SUBSCRIBE.
        const reply = await c.call(String(command[0]).toLowerCase(), ...command.slice(1));
        const leaked = JSON.stringify(reply)?.includes(secret) === true;
        return `${leaked ? "A read B's canary" : 'the server ran it'}: ${summary(reply)}`;
      }),
    );
  /** A command that would harm the server or B if it ran: sent only when ACL DRYRUN says it is refused. */
  const tryHarmful = async (name: string, command: Arg[]) => {
    const verdict = await admin.call('ACL', 'DRYRUN', A.user, ...command);
    if (verdict === 'OK') {
      attempts.push({
        attempt: name,
        refused: false,
        detail: 'ACL DRYRUN says A may run it; not sent, since it would harm the server',
      });
      return;
    }
    await tryCommand(name, command);
  };

  try {
    // B's key: read, inspect, change, remove.
    await tryCommand("read B's key", ['GET', canary]);
    await tryCommand("test B's key with EXISTS", ['EXISTS', canary]);
    await tryCommand("read B's key's type", ['TYPE', canary]);
    await tryCommand("read B's key's TTL", ['PTTL', canary]);
    await tryCommand("read B's key's encoding", ['OBJECT', 'ENCODING', canary]);
    await tryCommand("read B's key's size", ['MEMORY', 'USAGE', canary]);
    await tryCommand("dump B's key", ['DUMP', canary]);
    await tryCommand("watch B's key", ['WATCH', canary]);
    // Ordered so that each still finds the key if the one before was allowed.
    await tryCommand("copy B's key into A's prefix", ['COPY', canary, `${A.prefix}${marker}-copy`]);
    await tryCommand("write B's key", ['SET', canary, 'written by A', 'KEEPTTL']);
    await tryCommand("rename B's key into A's prefix", ['RENAME', canary, `${A.prefix}${marker}`]);
    await tryCommand("expire B's key", ['PEXPIRE', canary, 1]);
    await tryCommand("delete B's key", ['DEL', canary]);
    await tryCommand("read B's key from a script", ['EVAL', "return redis.call('GET', KEYS[1])", 1, canary]);
    // The keyspace and the server as a whole.
    await tryCommand('list every key with KEYS', ['KEYS', '*']);
    await tryCommand('list every key with SCAN', ['SCAN', 0, 'MATCH', '*', 'COUNT', 1000]);
    await tryCommand('pick a key with RANDOMKEY', ['RANDOMKEY']);
    await tryCommand('count every key with DBSIZE', ['DBSIZE']);
    await tryCommand('read INFO keyspace', ['INFO', 'keyspace']);
    await tryCommand('read MEMORY STATS', ['MEMORY', 'STATS']);
    await tryCommand('list connections with CLIENT LIST', ['CLIENT', 'LIST']);
    await tryCommand('read the configuration', ['CONFIG', 'GET', '*']);
    await tryCommand('list ACL users and rules', ['ACL', 'LIST']);
    await tryCommand("read B's ACL rules", ['ACL', 'GETUSER', B.user]);
    await tryCommand('list functions', ['FUNCTION', 'LIST']);
    await tryCommand('read the slow log', ['SLOWLOG', 'GET']);
    await tryCommand('switch to database 1', ['SELECT', 1]);
    await tryHarmful('watch every command with MONITOR', ['MONITOR']);
    await tryHarmful("end B's connections", ['CLIENT', 'KILL', 'USER', B.user]);
    await tryHarmful('flush every database', ['FLUSHALL']);
    await tryHarmful('flush the database', ['FLUSHDB']);
    await tryHarmful('shut the server down', ['SHUTDOWN', 'NOSAVE']);
    // B's channels.
    await tryCommand("subscribe to B's channel", ['SUBSCRIBE', channel]);
    await tryCommand("subscribe to B's channels by pattern", ['PSUBSCRIBE', `${B.prefix}*`]);
    await tryCommand('subscribe to every channel by pattern', ['PSUBSCRIBE', '*']);
    await tryCommand("subscribe to B's shard channel", ['SSUBSCRIBE', channel]);
    await tryCommand("publish on B's channel", ['PUBLISH', channel, 'from A']);
    await tryCommand('list channels with PUBSUB CHANNELS', ['PUBSUB', 'CHANNELS']);
    await tryCommand("count B's subscribers with PUBSUB NUMSUB", ['PUBSUB', 'NUMSUB', channel]);
    // Other identities, from A's connection.
    await tryCommand("log in as B with A's password", ['AUTH', B.user, A.password]);
    await record("switch to the server's default user, then read B's key", () =>
      asA(async (c) => {
        await c.call('AUTH', 'default', randomBytes(16).toString('hex'));
        const reply = await c.call('GET', canary);
        return reply === secret
          ? "the default user needs no password and read B's canary: anyone who reaches the server can"
          : `the default user needs no password: ${summary(reply)}`;
      }),
    );

    let after: unknown;
    let ttl: unknown;
    try {
      after = await bClient.call('GET', canary);
      ttl = await bClient.call('PTTL', canary);
    } catch (error) {
      throw setupError("B's canary could not be read back with B's credentials", error);
    }
    const intact = after === secret && typeof ttl === 'number' && ttl > 0;
    attempts.push({
      attempt: "B's canary after all attempts",
      refused: intact,
      detail: intact ? 'unchanged' : 'changed, gone or made persistent',
    });
  } finally {
    bClient.disconnect();
    // Whatever an allowed attempt left, under B's prefix or moved into A's.
    await admin
      .call('UNLINK', canary, `${A.prefix}${marker}`, `${A.prefix}${marker}-copy`)
      .catch(() => undefined);
  }
  return { refused: attempts.every((x) => x.refused), attempts };
}
