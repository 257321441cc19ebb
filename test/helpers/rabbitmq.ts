// The RabbitMQ broker the provider suites run against: its management API at BULKHEAD_TEST_RABBITMQ_URL
// (default: the local broker as guest, which may use the API from localhost). A missing broker or a
// disabled management plugin fails the suite; it is never skipped.
import { connect, type Channel, type ChannelModel } from 'amqplib';
import type { Credentials } from '../../src/providers/provider.js';
import type { HandshakeTarget } from '../../src/providers/rabbitmq/rabbitmq-handshake.js';

export const testRabbitmqUrl =
  process.env['BULKHEAD_TEST_RABBITMQ_URL'] ?? 'http://guest:guest@127.0.0.1:15672';

const base = new URL(testRabbitmqUrl);
const apiBase = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api`;

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const adminAuth = basic(decodeURIComponent(base.username), decodeURIComponent(base.password));

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** One management API call, as the administrator or with `as` (a tenant's username and password). */
export async function mgmt(
  method: string,
  path: string,
  body?: unknown,
  as?: { username: string; password: string },
): Promise<ApiAnswer> {
  const res = await fetch(`${apiBase}${path}`, {
    method,
    headers: {
      authorization: as === undefined ? adminAuth : basic(as.username, as.password),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/** The administrator's GET; throws on anything but 200. */
export async function adminGet<T>(path: string): Promise<T> {
  const answer = await mgmt('GET', path);
  if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as T;
}

/** Fails the suite when the broker or its management API cannot be reached. */
export async function assertBrokerReachable(): Promise<void> {
  const answer = await mgmt('GET', '/overview').catch((error: unknown) => {
    throw new Error(
      `RabbitMQ's management API is not reachable at ${apiBase} (start RabbitMQ and run ` +
        '"rabbitmq-plugins enable rabbitmq_management"); the tests need it',
      { cause: error },
    );
  });
  if (answer.status !== 200) throw new Error(`RabbitMQ's management API answered ${answer.status}`);
}

export const path = (...parts: string[]): string => parts.map((p) => `/${encodeURIComponent(p)}`).join('');

/** The handshake target of a resource's credentials, optionally with another username or password. */
export function targetOf(c: Credentials, override: Partial<HandshakeTarget> = {}): HandshakeTarget {
  return {
    scheme: 'amqp',
    host: String(c['host']),
    port: Number(c['port']),
    username: String(c['username']),
    password: String(c['password']),
    ...override,
  };
}

/** `url` with another vhost: the same login, as a client would edit it. */
export function urlWithVhost(url: string, vhost: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

export interface Tenant {
  readonly connection: ChannelModel;
  readonly channel: Channel;
  /** Resolves when the broker (or anything) closed the connection. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** An amqplib connection and channel with the tenant's URL; stray 'error' events are swallowed. */
export async function openTenant(url: string): Promise<Tenant> {
  const connection = await connect(url);
  connection.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  return { connection, channel, closed, close: () => connection.close().catch(() => undefined) };
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as Error,
  );
  if (error === null) throw new Error('expected a rejection, but the operation succeeded');
  return error;
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}
