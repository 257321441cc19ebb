// The provider's options, checked once when the provider is built: a bad value stops the start with
// one clear line, and everything below this file may take the settings as valid.
import { hostPort, ProviderError } from '../provider.js';

export interface RabbitmqProviderOptions {
  /**
   * The management API with an administrator's credentials, e.g. `http://admin:secret@mq:15672`. The
   * user needs the `administrator` tag: it creates vhosts and users and closes other users' connections.
   */
  readonly managementUrl: string;
  /**
   * Where tenants reach the broker over AMQP, e.g. `amqps://mq.example.com:5671` (credentials and path
   * are not allowed). Default: the management URL's host on 5672 with `amqp://`.
   */
  readonly amqpUrl?: string | undefined;
  /** Connections a resource's vhost accepts at once. Default 50. */
  readonly maxConnections?: number | undefined;
  /** Queues a resource's vhost may hold. Default 100. */
  readonly maxQueues?: number | undefined;
  /**
   * The broker's `handshake_timeout` plus, on a TLS listener, its `ssl_handshake_timeout`: how long a
   * client that logged in may wait before it opens its vhost. Default 10000, RabbitMQ's default.
   */
  readonly handshakeTimeoutMs?: number | undefined;
  /** The broker's `collect_statistics_interval`: how late connection details show up. Default 5000. */
  readonly statsIntervalMs?: number | undefined;
}

export interface RabbitmqSettings {
  /** `…/api`, without credentials (fetch refuses URLs that carry them). */
  readonly apiBase: string;
  /** Where the management API is, host:port; no secret. */
  readonly address: string;
  /** The `Authorization` header for the administrator. */
  readonly adminAuth: string;
  readonly adminUser: string;
  readonly amqpScheme: 'amqp' | 'amqps';
  readonly amqpHost: string;
  readonly amqpPort: number;
  readonly maxConnections: number;
  readonly maxQueues: number;
  /** How long after a rotation the second sweep runs (see rabbitmq-sessions.ts). */
  readonly lateSweepMs: number;
}

function invalid(message: string): never {
  throw new ProviderError('rabbitmq', 'invalid_options', message);
}

function parseUrl(value: unknown, what: string): URL {
  if (typeof value !== 'string') return invalid(`rabbitmq ${what} must be a URL`);
  try {
    return new URL(value);
  } catch {
    return invalid(`rabbitmq ${what} is not a URL`);
  }
}

function count(value: number | undefined, fallback: number, what: string, max: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max)
    invalid(`rabbitmq ${what} must be an integer from 1 to ${max}`);
  return n;
}

/** Checks the options and fills in the defaults. */
export function rabbitmqSettings(options: RabbitmqProviderOptions): RabbitmqSettings {
  const management = parseUrl(options.managementUrl, 'managementUrl');
  if (management.protocol !== 'http:' && management.protocol !== 'https:') {
    invalid('rabbitmq managementUrl must be an http:// or https:// URL');
  }
  if (management.username === '')
    invalid("rabbitmq managementUrl must carry the administrator's user and password");
  if (management.search !== '' || management.hash !== '')
    invalid('rabbitmq managementUrl must not have a query or fragment');
  const user = decodeURIComponent(management.username);
  const password = decodeURIComponent(management.password);
  const path = management.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  const apiBase = `${management.origin}${path}/api`;

  const amqp = parseUrl(options.amqpUrl ?? `amqp://${management.host.replace(/:\d+$/, '')}`, 'amqpUrl');
  if (amqp.protocol !== 'amqp:' && amqp.protocol !== 'amqps:')
    invalid('rabbitmq amqpUrl must be an amqp:// or amqps:// URL');
  if (amqp.username !== '' || amqp.password !== '') invalid('rabbitmq amqpUrl must not carry credentials');
  if ((amqp.pathname !== '' && amqp.pathname !== '/') || amqp.search !== '' || amqp.hash !== '') {
    invalid('rabbitmq amqpUrl must name only a host and a port');
  }
  const amqpScheme = amqp.protocol === 'amqps:' ? 'amqps' : 'amqp';
  const amqpHost = amqp.hostname.replace(/^\[(.*)\]$/, '$1');
  if (amqpHost === '') invalid('rabbitmq amqpUrl must name a host');

  const handshakeTimeoutMs = count(options.handshakeTimeoutMs, 10_000, 'handshakeTimeoutMs', 600_000);
  const statsIntervalMs = count(options.statsIntervalMs, 5_000, 'statsIntervalMs', 600_000);
  return {
    apiBase,
    address: hostPort(
      management.hostname.replace(/^\[(.*)\]$/, '$1'),
      management.port === '' ? (management.protocol === 'https:' ? 443 : 80) : management.port,
    ),
    adminAuth: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    adminUser: user,
    amqpScheme,
    amqpHost,
    amqpPort: amqp.port === '' ? (amqpScheme === 'amqps' ? 5671 : 5672) : Number(amqp.port),
    maxConnections: count(options.maxConnections, 50, 'maxConnections', 100_000),
    maxQueues: count(options.maxQueues, 100, 'maxQueues', 1_000_000),
    // One more second for the broker's clock, read from a Date header (see brokerTimeAfter).
    lateSweepMs: handshakeTimeoutMs + statsIntervalMs + 1_000,
  };
}
