// The RabbitMQ provider's public surface: the factory, its options and its errors. How vhosts, users,
// permissions and connections are handled stays internal to this folder.
import type { Provider } from '../provider.js';
import { rabbitmqSettings, type RabbitmqProviderOptions } from './rabbitmq-options.js';
import { RabbitmqProvider } from './rabbitmq-provider.js';

export type { RabbitmqProviderOptions } from './rabbitmq-options.js';

/**
 * Builds the `rabbitmq` provider: a vhost and a user per resource, through the management API. Options
 * are checked here; the broker is first contacted by the first call that needs it.
 *
 * @example
 * const provider = await createRabbitmqProvider({ managementUrl: 'http://admin:secret@mq:15672' });
 * const credentials = await provider.create({ domainId, resourceId }); // { url, host, port, vhost, username, password }
 */
export async function createRabbitmqProvider(options: RabbitmqProviderOptions): Promise<Provider> {
  const settings = rabbitmqSettings(options);
  return Promise.resolve(new RabbitmqProvider(settings));
}
