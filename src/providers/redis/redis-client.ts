// The part of ioredis the provider uses, typed as small structural interfaces, and the two ways it
// connects: one long-lived admin connection, and short-lived tenant connections made from a tenant's
// URL exactly as the tenant would. Neither ever crashes the process on a dropped connection.
import { Redis } from 'ioredis';

export type Arg = string | number;

export interface RedisCommands {
  call(command: string, ...args: Arg[]): Promise<unknown>;
}

export interface AdminClient extends RedisCommands {
  /** Starts a MULTI/EXEC: the queued commands run together, nothing else runs between them. */
  multi(): {
    call(command: string, ...args: Arg[]): unknown;
    exec(): Promise<[Error | null, unknown][] | null>;
  };
  quit(): Promise<unknown>;
}

export interface TenantClient extends RedisCommands {
  /** Closes at once, without waiting for replies. */
  disconnect(): void;
}

// An admin step or a probe attempt that hangs is a broken setup, not a refusal.
const CONNECT_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 30_000;

const ignore = (): void => {};

/** The admin connection; connects on first use and reconnects by itself. */
export function openAdmin(url: string): AdminClient {
  const redis = new Redis(url, {
    db: 0,
    lazyConnect: true,
    connectionName: 'bulkhead-provisioner',
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 2,
  });
  // Reconnection is ioredis's job; a command that cannot be sent fails on its own.
  redis.on('error', ignore);
  return redis;
}

/**
 * A connection as a tenant, from the URL in its credentials. AUTH is sent as the first command rather than
 * left to ioredis, which only reports a failed AUTH as an event and carries on as the default user. No
 * ready check (it runs INFO, which tenants may not), no retries and no reconnection: a refused or dropped
 * connection is an answer, not a glitch.
 */
export async function connectTenant(url: string): Promise<TenantClient> {
  const u = new URL(url);
  const redis = new Redis({
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', ignore);
  try {
    await redis.connect();
    await redis.call('AUTH', decodeURIComponent(u.username), decodeURIComponent(u.password));
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/**
 * The error code of a reply the server sent (`NOPERM`, `WRONGPASS`, `ERR` …), or undefined for anything
 * else (network, timeout, bug). Redis puts the code first in every error reply.
 */
export function replyCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined;
  return /^([A-Z]+)\b/.exec(error.message)?.[1];
}

/** Runs a MULTI/EXEC and throws the first command's error, if any (EXEC runs the rest regardless). */
export async function transaction(admin: AdminClient, commands: Arg[][]): Promise<unknown[]> {
  const batch = admin.multi();
  for (const [command, ...args] of commands) batch.call(String(command), ...args);
  const replies = await batch.exec();
  if (replies === null) throw new Error('the Redis transaction was aborted');
  for (const [error] of replies) if (error !== null) throw error;
  return replies.map(([, reply]) => reply);
}

/** A flat `[name, value, name, value …]` reply (ACL GETUSER in RESP2) as an object. */
export function fields(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}
