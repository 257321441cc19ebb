// The Redis provider's public surface: the factory, its options and its errors. How ACL users, key
// prefixes and rules are laid out stays internal to this folder.
import type { Provider } from '../provider.js';
import { redisSettings, type RedisProviderOptions } from './redis-options.js';
import { RedisServerProvider } from './redis-provider.js';

export type { RedisProviderOptions } from './redis-options.js';

/**
 * Builds the `redis` provider: one ACL user per resource on a shared Redis 7 server, allowed only the
 * keys and channels under its own prefix. Options are checked here; the server is first contacted by the
 * first call that needs it.
 *
 * @example
 * const provider = await createRedisProvider({ adminUrl: 'redis://default:secret@cache:6379' });
 * const credentials = await provider.create({ domainId, resourceId });
 * // { host, port, username, password, keyPrefix, channelPrefix, url }
 */
export function createRedisProvider(options: RedisProviderOptions): Promise<Provider> {
  // A bad option rejects the promise rather than throwing where the call was made.
  return Promise.resolve().then(() => new RedisServerProvider(redisSettings(options)));
}
