// The RabbitMQ provider: per resource a vhost and a user of the same name (`bh_<domain>_<resource>`),
// the user holding permissions on that vhost only, without management tags, under vhost limits. Assumes
// an administrator on the management API and that tenants reach the broker only over AMQP.
import { setTimeout } from 'node:timers/promises';
import type * as contract from '../provider.js';
import { backendName, ProviderError, refFromBackendName } from '../provider.js';
import { apiPath, ManagementClient } from './rabbitmq-management.js';
import type { RabbitmqSettings } from './rabbitmq-options.js';
import { HASHING_ALGORITHM, newPassword, passwordHash } from './rabbitmq-password.js';
import { probeRabbitmqIsolation } from './rabbitmq-probe.js';
import { brokerTimeAfter, SessionCloser } from './rabbitmq-sessions.js';

// Inside its own vhost a tenant may do anything: permissions are held per (user, vhost), so no pattern
// here can reach another vhost, and a narrower one would only break the tenant's use of amq.* exchanges.
const EVERYTHING = '^.*$';

/**
 * On amq.topic, routing keys (publish) and binding keys (bind) must be the vhost's name or start with it
 * and a dot. amq.topic is per vhost, so this adds nothing against other tenants today; it keeps a `#`
 * binding from collecting everything, and keys attributable, should a vhost ever gain a second user (a
 * bridge, a shovel) or its amq.topic be federated. Names are [a-z0-9_] only: nothing to escape.
 */
export const topicPattern = (vhost: string): string => `^${vhost}(\\..*)?$`;

interface UserBody {
  readonly tags?: string | readonly string[];
}

interface LimitsBody {
  readonly value?: Readonly<Record<string, number>>;
}

export function connectionUrl(c: {
  scheme: string;
  host: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
}): string {
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  const user = encodeURIComponent(c.username);
  const password = encodeURIComponent(c.password);
  return `${c.scheme}://${user}:${password}@${host}:${c.port}/${encodeURIComponent(c.vhost)}`;
}

export class RabbitmqProvider implements contract.Provider {
  readonly kind = 'rabbitmq' as const;
  readonly capabilities = { objects: false } as const;
  private readonly api: ManagementClient;
  private readonly sessions: SessionCloser;

  readonly backend: contract.BackendIdentity;

  constructor(private readonly s: RabbitmqSettings) {
    this.backend = { type: 'rabbitmq', location: s.address };
    this.api = new ManagementClient(s);
    this.sessions = new SessionCloser(this.api, s.lateSweepMs);
  }

  async create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const name = backendName(ref);
    await this.api.put(apiPath('vhosts', name), {
      description: `bulkhead.domain=${ref.domainId} bulkhead.resource=${ref.resourceId}`,
      tags: 'bulkhead',
    });
    // The management API gives whoever creates a vhost full rights on it; the administrator needs none
    // (its tag covers everything the provider does), so the tenant's user is the vhost's only one.
    await this.api.delete(apiPath('permissions', name, this.s.adminUser));
    // Limits before the user: the tenant never sees its vhost without them.
    await this.api.put(apiPath('vhost-limits', name, 'max-connections'), { value: this.s.maxConnections });
    await this.api.put(apiPath('vhost-limits', name, 'max-queues'), { value: this.s.maxQueues });
    const password = newPassword();
    await this.grantUser(name, password);
    return this.credentialsFor(name, password);
  }

  async inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    const name = backendName(ref);
    const [vhost, user, permissions, limits] = await Promise.all([
      this.api.get<object>(apiPath('vhosts', name)),
      this.api.get<UserBody>(apiPath('users', name)),
      this.api.get<object>(apiPath('permissions', name, name)),
      this.api.get<LimitsBody[]>(apiPath('vhost-limits', name)),
    ]);
    const limit = (key: string) => (Array.isArray(limits) ? (limits[0]?.value?.[key] ?? null) : null);
    const tags = user?.tags;
    return {
      exists: vhost !== null && user !== null,
      details: {
        vhost: name,
        vhostExists: vhost !== null,
        user: name,
        userExists: user !== null,
        userTags: tags === undefined ? null : Array.isArray(tags) ? tags.join(',') : String(tags),
        permissionsOnVhost: permissions !== null,
        maxConnections: limit('max-connections'),
        maxQueues: limit('max-queues'),
      },
    };
  }

  async delete(ref: contract.ResourceRef): Promise<void> {
    const name = backendName(ref);
    // The user first: nothing can log in again, and the broker closes the user's connections itself.
    await this.remove(apiPath('users', name));
    // Removing a user or its permissions alone leaves a connection that is already open usable (its
    // consumers keep receiving), so what is left is closed here, and the call waits until none is.
    await this.sessions.closeAll(name, 'resource deleted');
    // Removes the vhost's queues, exchanges, bindings, limits and every permission on it.
    await this.remove(apiPath('vhosts', name));
  }

  /**
   * Deletes the object at `path`, absent already or not. Two deletes of one object at once (another
   * server's, a retry, the reconciler) can get the broker to answer one of them 500 while the other
   * removes it: an error after which the object is gone is success; otherwise it is tried again.
   */
  private async remove(path: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.api.delete(path);
        return;
      } catch (error) {
        if ((await this.api.get<object>(path)) === null) return;
        if (attempt === 3) throw error;
        await setTimeout(100 * attempt);
      }
    }
  }

  async credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const name = backendName(ref);
    if ((await this.api.get<object>(apiPath('vhosts', name))) === null) {
      throw new ProviderError('rabbitmq', 'not_found', `vhost ${name} does not exist`);
    }
    const password = newPassword();
    const changedAt = brokerTimeAfter(await this.grantUser(name, password));
    await this.sessions.closeAll(name, 'credentials rotated');
    this.sessions.scheduleLateSweep(name, changedAt, 'credentials rotated');
    return this.credentialsFor(name, password);
  }

  probeIsolation(a: contract.ProbeSide, b: contract.ProbeSide): Promise<contract.ProbeReport> {
    return probeRabbitmqIsolation({ api: this.api, apiBase: this.s.apiBase }, a, b);
  }

  async listOwned(): Promise<contract.OwnedObject[]> {
    // A resource's vhost and user share one name; each name is listed once, since delete() removes both.
    const [vhosts, users] = await Promise.all([
      this.api.get<{ name: string }[]>('/vhosts?columns=name'),
      this.api.get<{ name: string }[]>('/users?columns=name'),
    ]);
    const names = new Set([...(vhosts ?? []), ...(users ?? [])].map((o) => o.name));
    const owned: contract.OwnedObject[] = [];
    for (const name of [...names].sort()) {
      const ref = refFromBackendName(name);
      if (ref !== null) owned.push({ ref, name });
    }
    return owned;
  }

  close(): Promise<void> {
    this.sessions.stop();
    return Promise.resolve();
  }

  /**
   * Sets the user's password and exactly its rights: no tags (so no management API), everything in its
   * own vhost, confined keys on amq.topic. Returns the broker's clock when the password changed.
   */
  private async grantUser(name: string, password: string): Promise<number | null> {
    const changedAt = await this.api.put(apiPath('users', name), {
      password_hash: passwordHash(password),
      hashing_algorithm: HASHING_ALGORITHM,
      tags: '',
    });
    await this.api.put(apiPath('permissions', name, name), {
      configure: EVERYTHING,
      write: EVERYTHING,
      read: EVERYTHING,
    });
    await this.api.put(apiPath('topic-permissions', name, name), {
      exchange: 'amq.topic',
      write: topicPattern(name),
      read: topicPattern(name),
    });
    return changedAt;
  }

  private credentialsFor(name: string, password: string): contract.Credentials {
    const { amqpScheme: scheme, amqpHost: host, amqpPort: port } = this.s;
    return {
      host,
      port,
      vhost: name,
      username: name,
      password,
      url: connectionUrl({ scheme, host, port, username: name, password, vhost: name }),
    };
  }
}
