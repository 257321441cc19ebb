// The provider contract on the test RabbitMQ broker: a vhost and a user per resource. The management
// API, as the broker's administrator, says what exists; a tenant connects over AMQP with its URL.
import { createRabbitmqProvider } from '../../src/providers/rabbitmq/index.js';
import { backendName } from '../../src/providers/provider.js';
import {
  assertBrokerReachable,
  mgmt,
  openTenant,
  path,
  testRabbitmqUrl,
  within,
} from '../helpers/rabbitmq.js';
import { describeProviderContract } from './contract.js';

describeProviderContract({
  name: 'rabbitmq',
  kind: 'rabbitmq',
  async open() {
    await assertBrokerReachable();
    return createRabbitmqProvider({ managementUrl: testRabbitmqUrl, handshakeTimeoutMs: 1_500 });
  },
  async use(_provider, _ref, credentials) {
    const tenant = await openTenant(String(credentials['url']));
    try {
      await tenant.channel.assertQueue('contract', { autoDelete: true });
    } finally {
      await tenant.close();
    }
  },
  refusal: /ACCESS_REFUSED - Login was refused/,
  async objects(ref) {
    const name = backendName(ref);
    const found: string[] = [];
    if ((await mgmt('GET', path('vhosts', name))).status === 200) found.push(`vhost ${name}`);
    if ((await mgmt('GET', path('users', name))).status === 200) found.push(`user ${name}`);
    return found;
  },
  secrets: ['password', 'url'],
  async session(credentials) {
    const tenant = await openTenant(String(credentials['url']));
    let closed = false;
    void tenant.closed.then(() => (closed = true));
    return {
      async works() {
        if (closed) return false;
        if (
          await tenant.channel.checkExchange('amq.direct').then(
            () => true,
            () => false,
          )
        )
          return true;
        // Refused: ended only when the broker closes the whole connection, not just this channel.
        return !(await within(tenant.closed, 5_000));
      },
      close: () => tenant.close(),
    };
  },
});
