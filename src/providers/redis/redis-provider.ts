// The Redis provider: per resource one ACL user that may touch only the keys and channels under its own
// prefix, in database 0 of a shared server. Every call is idempotent and converges on one user, because
// the user's name and prefix derive from the ids and its rules are always rewritten from `reset`.
// Assumes a standalone Redis 7.0+ whose default user is off or has a password (see docs/providers.md).
import type * as contract from '../provider.js';
import { ProviderError, refFromBackendName } from '../provider.js';
import {
  LOCKED_OUT,
  NAMED_COMMANDS,
  newPassword,
  tenantNames,
  tenantRules,
  type TenantNames,
} from './redis-acl.js';
import { fields, openAdmin, transaction, type AdminClient } from './redis-client.js';
import type { RedisSettings } from './redis-options.js';
import { probeRedisIsolation } from './redis-probe.js';

// Keys looked at per SCAN step, and so deleted per UNLINK: large enough to be quick, small enough that no
// single step blocks the server for long.
const SCAN_COUNT = 1000;

/** Calls `each` with every batch of keys that start with `prefix`, in database 0 of the admin connection. */
export async function scanPrefix(
  admin: AdminClient,
  prefix: string,
  each: (keys: string[]) => Promise<void> | void,
): Promise<void> {
  // The prefix holds only [0-9a-z_:], none of which SCAN's glob treats specially.
  let cursor = '0';
  do {
    const [next, keys] = (await admin.call('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_COUNT)) as [
      string,
      string[],
    ];
    if (keys.length > 0) await each(keys);
    cursor = next;
  } while (cursor !== '0');
}

export class RedisServerProvider implements contract.Provider {
  readonly kind = 'redis' as const;
  readonly capabilities = { objects: false } as const;
  private readonly admin: AdminClient;
  private server: Promise<{ known: Set<string>; aclFile: boolean }> | undefined;
  private closed = false;

  readonly backend: contract.BackendIdentity;

  constructor(private readonly s: RedisSettings) {
    this.admin = openAdmin(s.adminUrl);
    this.backend = { type: 'redis', location: s.address };
  }

  async create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    return this.issue(tenantNames(ref));
  }

  async inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    const names = tenantNames(ref);
    const user = await this.user(names.user);
    let keys = 0;
    await scanPrefix(this.admin, names.prefix, (batch) => {
      keys += batch.length;
    });
    const flags = Array.isArray(user?.['flags']) ? (user['flags'] as unknown[]).map(String) : [];
    return {
      exists: user !== null,
      details: {
        user: names.user,
        userExists: user !== null,
        enabled: flags.includes('on'),
        keyPrefix: names.prefix,
        keys,
        // What the server holds, so an operator sees a user someone widened by hand.
        keyPatterns: user === null ? null : String(user['keys']),
        channelPatterns: user === null ? null : String(user['channels']),
        aclPersisted: (await this.serverFacts()).aclFile,
      },
    };
  }

  async delete(ref: contract.ResourceRef): Promise<void> {
    const names = tenantNames(ref);
    // The user is removed last, so a crash anywhere before leaves it for listOwned() and the reconciler.
    const exists = (await this.user(names.user)) !== null;
    if (exists) {
      // In one transaction: no login can slip in between locking the user out and killing its connections.
      await transaction(this.admin, [
        ['ACL', 'SETUSER', names.user, ...LOCKED_OUT],
        ['CLIENT', 'KILL', 'USER', names.user],
      ]);
      await this.persist();
    }
    await scanPrefix(this.admin, names.prefix, async (keys) => {
      await this.admin.call('UNLINK', ...keys);
    });
    if (exists) {
      await this.admin.call('ACL', 'DELUSER', names.user);
      await this.persist();
    }
  }

  async credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const names = tenantNames(ref);
    // A delete racing this check could leave a user with no keys behind; listOwned() reports it and the
    // reconciler removes it, since its resource is deleted.
    if ((await this.user(names.user)) === null) {
      throw new ProviderError('redis', 'not_found', `ACL user ${names.user} does not exist`);
    }
    return this.issue(names);
  }

  probeIsolation(a: contract.ProbeSide, b: contract.ProbeSide): Promise<contract.ProbeReport> {
    return probeRedisIsolation(this.admin, a, b);
  }

  async listOwned(): Promise<contract.OwnedObject[]> {
    const users = (await this.admin.call('ACL', 'USERS')) as string[];
    const owned: contract.OwnedObject[] = [];
    for (const name of users) {
      const ref = refFromBackendName(name);
      if (ref !== null) owned.push({ ref, name });
    }
    return owned.sort((x, y) => x.name.localeCompare(y.name));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.admin.quit().catch(() => undefined);
  }

  /**
   * Sets the user's rules from `reset` with a new password and ends every connection it has, in one
   * transaction: the old password stops working and nothing opened with it stays open.
   */
  private async issue(names: TenantNames): Promise<contract.Credentials> {
    await this.refuseOpenDefaultUser();
    const password = newPassword();
    const { known } = await this.serverFacts();
    await transaction(this.admin, [
      ['ACL', 'SETUSER', names.user, ...tenantRules(names, password, known)],
      ['CLIENT', 'KILL', 'USER', names.user],
    ]);
    await this.persist();
    const { scheme, publicHost: host, publicPort: port } = this.s;
    const hostInUrl = host.includes(':') ? `[${host}]` : host;
    return {
      host,
      port,
      username: names.user,
      password,
      keyPrefix: names.prefix,
      channelPrefix: names.prefix,
      url: `${scheme}//${encodeURIComponent(names.user)}:${encodeURIComponent(password)}@${hostInUrl}:${port}`,
    };
  }

  /**
   * A server whose `default` user is on without a password lets any tenant `AUTH default` and become
   * admin: no credentials are handed out there, unless the operator said this server is for development.
   */
  private async refuseOpenDefaultUser(): Promise<void> {
    if (this.s.allowOpenDefaultUser) return;
    const user = await this.user('default');
    const flags = Array.isArray(user?.['flags']) ? (user['flags'] as unknown[]).map(String) : [];
    if (flags.includes('on') && flags.includes('nopass')) {
      throw new ProviderError(
        'redis',
        'unsafe_server',
        `the Redis server at ${this.s.address} has its default user on without a password, so any ` +
          'tenant could become admin',
        {
          hint:
            'turn the default user off (ACL SETUSER default off, then ACL SAVE or CONFIG REWRITE) or give ' +
            'it a password (requirepass), then create again',
        },
      );
    }
  }

  /** ACL GETUSER as an object, or null when there is no such user. */
  private async user(name: string): Promise<Record<string, unknown> | null> {
    const reply = await this.admin.call('ACL', 'GETUSER', name);
    return reply === null ? null : fields(reply);
  }

  /** Writes the ACL file when the server has one; without one, users live until the server restarts. */
  private async persist(): Promise<void> {
    if ((await this.serverFacts()).aclFile) await this.admin.call('ACL', 'SAVE');
  }

  /** What the server knows of the commands the rules name, and whether it keeps an ACL file; asked once. */
  private serverFacts(): Promise<{ known: Set<string>; aclFile: boolean }> {
    if (this.closed) return Promise.reject(new Error('the redis provider is closed'));
    this.server ??= (async () => {
      const info = (await this.admin.call('COMMAND', 'INFO', ...NAMED_COMMANDS)) as unknown[];
      const known = new Set(NAMED_COMMANDS.filter((_, i) => info[i] !== null && info[i] !== undefined));
      const aclFile = fields(await this.admin.call('CONFIG', 'GET', 'aclfile'))['aclfile'];
      return { known, aclFile: typeof aclFile === 'string' && aclFile !== '' };
    })().catch((error: unknown) => {
      this.server = undefined; // the next call asks again rather than failing forever
      throw error;
    });
    return this.server;
  }
}
