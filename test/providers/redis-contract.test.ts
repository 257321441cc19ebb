// The provider contract on a private redis-server set up as production should be (the default user has a
// password, users are kept in an ACL file): an ACL user per resource, confined to its own key prefix. The
// server's ACL list and key space say what exists; a tenant connects with its URL.
import type { Redis } from 'ioredis';
import { createRedisProvider } from '../../src/providers/redis/index.js';
import { backendName, type ResourceRef } from '../../src/providers/provider.js';
import { openTestAdmin, startPrivateRedis, tenantRedis, type PrivateRedis } from '../helpers/redis.js';
import { describeProviderContract } from './contract.js';

let server: PrivateRedis | undefined;
let admin: Redis | undefined;

describeProviderContract({
  name: 'redis',
  kind: 'redis',
  // One server for the suite: a second provider (the contract's "another server on the same backend")
  // must reach the same redis-server, not start one of its own.
  async open() {
    server ??= await startPrivateRedis();
    admin ??= await openTestAdmin(server.adminUrl);
    return createRedisProvider({ adminUrl: server.adminUrl });
  },
  async use(_provider, _ref, credentials) {
    const redis = await tenantRedis(credentials);
    try {
      const key = `${String(credentials['keyPrefix'])}contract`;
      await redis.set(key, 'v');
      if ((await redis.get(key)) !== 'v') throw new Error('the key did not return');
    } finally {
      redis.disconnect();
    }
  },
  refusal: /WRONGPASS/,
  async objects(ref: ResourceRef) {
    const redis = admin!;
    const name = backendName(ref);
    const users = ((await redis.call('ACL', 'USERS')) as string[]).filter((u) => u === name);
    // The tenant's keys, under the one prefix its ACL user may use.
    const keys = await redis.keys(`bh:${ref.domainId}:${ref.resourceId}:*`);
    return [...users.map((u) => `user ${u}`), ...keys.map((k) => `key ${k}`)];
  },
  secrets: ['password', 'url'],
  async session(credentials) {
    const redis = await tenantRedis(credentials);
    return {
      works: () =>
        redis.ping().then(
          () => true,
          () => false,
        ),
      close: () => Promise.resolve(redis.disconnect()),
    };
  },
  cleanup: async () => {
    admin?.disconnect();
    await server?.stop();
  },
});
