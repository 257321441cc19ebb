// The isolation probe on a real broker: with A's credentials, exactly as A would use them, try B's vhost
// over AMQP and B's objects through the management API. B's side is a canary queue holding one message
// that B itself puts there with its own credentials, so a refusal proves something, and it is checked
// (still there, one message, unchanged) and removed afterwards.
import { randomBytes } from 'node:crypto';
import { credentialFields, probeSetupError, runAttempt, type ProbeOutcome } from '../probe.js';
import { backendName, type ProbeAttempt, type ProbeReport, type ProbeSide } from '../provider.js';
import { amqpRefusal, openAmqp, type AmqpChannel, type AmqpSession } from './rabbitmq-amqp.js';
import { amqpHandshake, type HandshakeTarget } from './rabbitmq-handshake.js';
import { apiPath, request, type ManagementClient } from './rabbitmq-management.js';

interface Side extends HandshakeTarget {
  readonly vhost: string;
  readonly url: string;
}

const setupError = (message: string, cause?: unknown) => probeSetupError('rabbitmq', message, cause);

function sideOf(label: 'A' | 'B', side: ProbeSide): Side {
  const { text, port: portOf } = credentialFields('rabbitmq', label, side);
  const port = portOf();
  const url = text('url');
  return {
    scheme: url.startsWith('amqps:') ? 'amqps' : 'amqp',
    host: text('host'),
    port,
    username: text('username'),
    password: text('password'),
    vhost: text('vhost'),
    url,
  };
}

/** `url` pointing at another vhost: the same login, as a client would edit it. */
function withVhost(url: string, vhost: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

/** Runs one attempt; a refusal by the broker is an outcome, anything else means the probe is broken. */
const attempt = (attempts: ProbeAttempt[], name: string, fn: () => Promise<ProbeOutcome>) =>
  runAttempt('rabbitmq', attempts, name, fn, amqpRefusal);

async function connectSide(label: 'A' | 'B', side: Side): Promise<AmqpSession> {
  try {
    return await openAmqp(side.url);
  } catch (error) {
    throw setupError(`${label}'s credentials do not open ${label}'s own vhost`, error);
  }
}

export interface ProbeContext {
  /** The administrator's client, for setting up and for what only an administrator can see. */
  readonly api: ManagementClient;
  readonly apiBase: string;
}

/**
 * Every attempt A makes against B, each reported with whether the broker refused it.
 *
 * @example
 * const report = await probeRabbitmqIsolation(context, a, b);
 * if (!report.refused) alert(report.attempts.filter((x) => !x.refused));
 */
export async function probeRabbitmqIsolation(
  context: ProbeContext,
  a: ProbeSide,
  b: ProbeSide,
): Promise<ProbeReport> {
  if (backendName(a.ref) === backendName(b.ref)) throw setupError('A and B are the same resource');
  const A = sideOf('A', a);
  const B = sideOf('B', b);
  const queue = `bulkhead-probe-${randomBytes(8).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const attempts: ProbeAttempt[] = [];
  const aAuth = `Basic ${Buffer.from(`${A.username}:${A.password}`).toString('base64')}`;
  const sessions: AmqpSession[] = [];

  const bSession = await connectSide('B', B);
  sessions.push(bSession);
  try {
    const bChannel = await bSession.confirmChannel();
    await bChannel.assertQueue(queue, { durable: false });
    bChannel.sendToQueue(queue, Buffer.from(secret));
    await bChannel.waitForConfirms();
    const aSession = await connectSide('A', A);
    sessions.push(aSession);

    /** With A's login on B's vhost: connect, then `op` on a channel there. */
    const inBsVhost = async (op: (ch: AmqpChannel) => Promise<string>): Promise<ProbeOutcome> => {
      const s = await openAmqp(withVhost(A.url, B.vhost));
      sessions.push(s);
      try {
        return { refused: false, detail: await op(await s.channel()) };
      } finally {
        await s.close();
      }
    };
    /** A management API call with A's credentials; refused when the API does not authorise A. */
    const asA = async (
      method: 'GET' | 'PUT' | 'POST' | 'DELETE',
      path: string,
      body?: unknown,
      undo?: string,
    ) => {
      const answer = await request(context.apiBase, aAuth, method, path, body);
      const refused = answer.status === 401 || answer.status === 403;
      if (!refused && undo !== undefined) await context.api.delete(undo).catch(() => undefined);
      const why = typeof answer.body === 'object' && answer.body !== null ? JSON.stringify(answer.body) : '';
      return { refused, detail: `answered ${answer.status} ${why}`.trim() };
    };

    await attempt(attempts, "log in as B's user with A's password", async () => {
      const outcome = await amqpHandshake({ ...B, password: A.password }, B.vhost);
      if (outcome.ok) outcome.close();
      return outcome.ok
        ? { refused: false, detail: "A's password opened B's vhost as B's user" }
        : { refused: true, detail: `refused at ${outcome.stage}: ${outcome.code} ${outcome.text}` };
    });
    await attempt(attempts, "open B's vhost with A's credentials", async () => {
      const outcome = await amqpHandshake(A, B.vhost);
      if (outcome.ok) outcome.close();
      return outcome.ok
        ? { refused: false, detail: `A opened ${B.vhost}` }
        : { refused: true, detail: `refused at ${outcome.stage}: ${outcome.code} ${outcome.text}` };
    });
    await attempt(attempts, "declare a queue in B's vhost", () =>
      inBsVhost(async (ch) => {
        const made = `${queue}-a`;
        await ch.assertQueue(made, { durable: false });
        await ch.deleteQueue(made).catch(() => undefined);
        return `A declared ${made} in B's vhost`;
      }),
    );
    await attempt(attempts, "publish to B's queue", () =>
      inBsVhost(async (ch) => {
        ch.sendToQueue(queue, Buffer.from('from A'));
        await ch.checkQueue(queue); // a round trip: a refused publish closes the channel before it answers
        return "A's message reached B's vhost";
      }),
    );
    await attempt(attempts, "consume from B's queue", () =>
      inBsVhost(async (ch) => {
        const got = await ch.get(queue, { noAck: false });
        return got === false ? "A was let read B's queue (it was empty)" : "A read B's canary message";
      }),
    );
    await attempt(attempts, "delete B's queue", () =>
      inBsVhost(async (ch) => {
        await ch.deleteQueue(queue);
        return "A deleted B's queue";
      }),
    );
    const aChannel = await aSession.confirmChannel();
    await attempt(attempts, "publish to B's queue by name from A's vhost", async () => {
      let returned = false;
      aChannel.on('return', () => (returned = true));
      aChannel.publish('', queue, Buffer.from('from A'), { mandatory: true });
      await aChannel.waitForConfirms();
      // Names resolve inside the connection's vhost only: there is no such queue in A's, so it comes back.
      return {
        refused: returned,
        detail: returned ? "returned unroutable: no queue of that name in A's vhost" : 'a queue in A took it',
      };
    });
    await attempt(attempts, "consume from B's queue by name from A's vhost", async () => {
      const ch = await aSession.channel();
      await ch.checkQueue(queue);
      return { refused: false, detail: "A's vhost has a queue of B's queue's name" };
    });
    await attempt(attempts, 'read the overview through the management API', () => asA('GET', '/overview'));
    await attempt(attempts, "list B's queues through the management API", () =>
      asA('GET', apiPath('queues', B.vhost)),
    );
    await attempt(attempts, "take B's messages through the management API", () =>
      asA('POST', `${apiPath('queues', B.vhost, queue)}/get`, {
        count: 1,
        ackmode: 'ack_requeue_true',
        encoding: 'auto',
      }),
    );
    await attempt(attempts, "publish to B's vhost through the management API", () =>
      asA('POST', `${apiPath('exchanges', B.vhost, 'amq.default')}/publish`, {
        properties: {},
        routing_key: queue,
        payload: 'from A',
        payload_encoding: 'string',
      }),
    );
    await attempt(attempts, "grant A's user rights on B's vhost through the management API", () =>
      asA(
        'PUT',
        apiPath('permissions', B.vhost, A.username),
        { configure: '.*', write: '.*', read: '.*' },
        apiPath('permissions', B.vhost, A.username),
      ),
    );
    await attempt(attempts, "close B's connections through the management API", () =>
      asA('DELETE', apiPath('connections', 'username', B.username)),
    );
    await attempt(attempts, "find a right of A's user on B's vhost", async () => {
      const [permissions, topics] = await Promise.all([
        context.api.get<object>(apiPath('permissions', B.vhost, A.username)),
        context.api.get<unknown[]>(apiPath('topic-permissions', B.vhost, A.username)),
      ]);
      const none = permissions === null && (topics === null || topics.length === 0);
      return {
        refused: none,
        detail: none
          ? "the broker holds no permission of A's user on B's vhost"
          : "A's user holds rights on B's vhost",
      };
    });
    // Not through attempt(): a channel of B's that some attempt got closed is a finding, not a refusal.
    let canary: ProbeOutcome;
    try {
      const { messageCount } = await bChannel.checkQueue(queue);
      const got = await bChannel.get(queue, { noAck: true });
      const intact = messageCount === 1 && got !== false && got.content.toString() === secret;
      canary = {
        refused: intact,
        detail: intact
          ? 'one message, as B wrote it'
          : `${messageCount} messages, the first ${got === false ? 'missing' : 'changed'}`,
      };
    } catch (error) {
      canary = { refused: false, detail: `B's connection or queue is gone: ${(error as Error).message}` };
    }
    attempts.push({ attempt: "B's canary after all attempts", ...canary });
    await bChannel.deleteQueue(queue).catch(() => undefined);
  } finally {
    for (const s of sessions.reverse()) await s.close();
  }
  return { refused: attempts.every((x) => x.refused), attempts };
}
