// The ACL user of one resource: its name, the one key and channel prefix it may use, and the exact rules
// it gets. The rules always start from `reset`, so applying them again replaces whatever the user had
// (including rules someone widened by hand) rather than adding to it. Assumes Redis 7.0 or later.
import { createHash, randomBytes } from 'node:crypto';
import { backendName, refFromBackendName, type ResourceRef } from '../provider.js';

export interface TenantNames {
  /** The ACL user: `bh_<domain>_<resource>`. */
  readonly user: string;
  /** Every key and channel of the resource starts with this: `bh:<domainId>:<resourceId>:`. */
  readonly prefix: string;
}

/** The names of a resource; refuses ids that are not exactly Bulkhead ids (they end up in ACL patterns). */
export function tenantNames(ref: ResourceRef): TenantNames {
  const user = backendName(ref);
  const canonical = refFromBackendName(user);
  if (canonical?.domainId !== ref.domainId || canonical.resourceId !== ref.resourceId) {
    throw new Error(`not a Bulkhead resource: ${ref.domainId}/${ref.resourceId}`);
  }
  return { user, prefix: `bh:${ref.domainId}:${ref.resourceId}:` };
}

/** A new password: 32 random bytes as base64url (43 characters, nothing that needs quoting in a URL). */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

/** The rule that sets a password by its SHA-256, which is all Redis keeps: the plain text never reaches it. */
export function passwordRule(password: string): string {
  return `#${createHash('sha256').update(password).digest('hex')}`;
}

/**
 * Commands denied by name after the categories (`-@admin -@dangerous -@scripting`). Most are in those
 * categories already in Redis 7.0; naming them keeps them denied if a later version moves one.
 */
export const DENIED_COMMANDS: readonly string[] = [
  // Enumerate or count the whole keyspace: key permissions do not filter them.
  'keys',
  'scan',
  'randomkey',
  'dbsize',
  // Server-wide facts: key counts, every client, memory, latency, every tenant's slow commands.
  'info',
  'memory',
  'latency',
  'slowlog',
  'lastsave',
  'role',
  // Other connections: CLIENT LIST/KILL/PAUSE, and TRACKING (BCAST would report every key changed).
  'client',
  // Every channel's name and subscriber count, whatever the channel permissions.
  'pubsub',
  // Every command of every connection.
  'monitor',
  // Other databases: tenants live in database 0, which is where deprovisioning looks.
  'select',
  'move',
  'copy', // COPY … DB n writes into another database
  'swapdb',
  // Server-wide state and destruction.
  'flushall',
  'flushdb',
  'config',
  'debug',
  'acl',
  'module',
  'cluster', // CLUSTER GETKEYSINSLOT lists keys
  'shutdown',
  'save',
  'bgsave',
  'bgrewriteaof',
  'failover',
  'migrate',
  'sync',
  'psync',
  'replicaof',
  'slaveof',
  'wait',
  'waitaof', // Redis 7.2
  // Scripts and functions: the script cache and function libraries are shared by every user.
  'eval',
  'evalsha',
  'eval_ro',
  'evalsha_ro',
  'script',
  'fcall',
  'fcall_ro',
  'function',
];

/**
 * Allowed back after the denials: they concern only the tenant's own connection or its own keys.
 * `client|setname` is what clients send for a connection name; `client|setinfo` (Redis 7.2) is sent by
 * node-redis and redis-py on connect; `memory|usage` is checked against key permissions.
 */
export const ALLOWED_SUBCOMMANDS: readonly string[] = [
  'client|setname',
  'client|getname',
  'client|setinfo',
  'memory|usage',
];

/**
 * The whole ACL SETUSER argument list (after the user name). `known` holds the command names the server
 * has; a named command it does not know (one from a later version) is left out, since naming an unknown
 * command makes ACL SETUSER fail.
 */
export function tenantRules(names: TenantNames, password: string, known: ReadonlySet<string>): string[] {
  return [
    'reset',
    'on',
    passwordRule(password),
    `~${names.prefix}*`,
    'resetchannels',
    `&${names.prefix}*`,
    '+@all',
    '-@admin',
    '-@dangerous',
    '-@scripting',
    ...DENIED_COMMANDS.filter((c) => known.has(c)).map((c) => `-${c}`),
    ...ALLOWED_SUBCOMMANDS.filter((c) => known.has(c)).map((c) => `+${c}`),
  ];
}

/** The rules that leave a user existing but unable to log in or run anything (`reset` is `off` too). */
export const LOCKED_OUT: readonly string[] = ['reset'];

/** Every command name tenantRules() may name, for asking the server which of them it knows. */
export const NAMED_COMMANDS: readonly string[] = [...DENIED_COMMANDS, ...ALLOWED_SUBCOMMANDS];
