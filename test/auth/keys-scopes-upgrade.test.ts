// Instances and volumes became key scopes of their own. A key issued before that without scopes held the
// five resource kinds, which then meant "everything": the migration gives it `instances` and `volumes` so
// it keeps reaching the domain's compute. A key issued with a narrower list is left as it was, and no
// longer reaches compute.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { widenDefaultKeyScopes } from '../../src/store/migrations.js';
import { backends, openTestServices } from '../helpers/backends.js';

const operatorToken = 'key-scopes-upgrade-operator-token-0123456789';
const actor = { actor: 'test', requestId: null };

describe.each(backends)('key scopes after the compute scopes on $name', (backend) => {
  let app: App;
  let services: Awaited<ReturnType<typeof openTestServices>>;

  beforeAll(async () => {
    services = await openTestServices(backend);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
  });
  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  const get = (url: string, key: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

  it('gives keys of the earlier default instances and volumes, and leaves narrower keys as they were', async () => {
    const domain = await services.domains.create(actor, { slug: 'upgrade-scopes', name: 'upgrade' });
    const issued = await services.keys.issue(actor, domain.id);
    const old = await services.keys.issue(actor, domain.id);
    const narrow = await services.keys.issue(actor, domain.id, { scopes: ['storage'] });
    // A key issued without scopes now holds every kind, compute included.
    const whoami = await get('/v1/whoami', issued.key);
    expect(whoami.json<{ scopes: string[] }>().scopes).toEqual([
      'postgres',
      'redis',
      'rabbitmq',
      'storage',
      'kubernetes',
      'instances',
      'volumes',
    ]);
    // What a key issued without scopes held before the compute scopes.
    const earlierDefault = ['postgres', 'redis', 'rabbitmq', 'storage', 'kubernetes'];
    await services.store.system('operator', (tx) =>
      sql`UPDATE provisioning_keys SET scopes = ${JSON.stringify(earlierDefault)}::jsonb WHERE id = ${old.id}`.execute(
        tx,
      ),
    );
    expect((await get(`/v1/domains/${domain.id}/instances`, old.key)).statusCode).toBe(403);

    await services.store.system('operator', (tx) => sql.raw(widenDefaultKeyScopes).execute(tx));
    await services.store.system('operator', (tx) => sql.raw(widenDefaultKeyScopes).execute(tx));

    const widened = await get('/v1/whoami', old.key);
    expect(widened.json<{ scopes: string[] }>().scopes).toEqual([...earlierDefault, 'instances', 'volumes']);
    expect((await get(`/v1/domains/${domain.id}/instances`, old.key)).statusCode).toBe(200);
    expect((await get(`/v1/domains/${domain.id}/volumes`, old.key)).statusCode).toBe(200);
    expect((await get('/v1/whoami', narrow.key)).json<{ scopes: string[] }>().scopes).toEqual(['storage']);
    expect((await get(`/v1/domains/${domain.id}/volumes`, narrow.key)).statusCode).toBe(403);
  });
});
