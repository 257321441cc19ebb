// Client secrets are checked with scrypt once, then remembered for a few minutes by each process (as an
// HMAC of the stored hash and the secret). Two servers on one database, each remembering the secret it
// checked: a secret replaced in the database, a service disabled or deleted and a registered client deleted
// through one of them are refused at once by both — what a process remembers never outlives the row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalClientId } from '../../src/identity/names.js';
import { CheckedSecrets } from '../../src/identity/checked-secrets.js';
import { hashSecret } from '../../src/identity/passwords.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { openStore } from '../../src/store/store.js';
import { asOwner, createTestDatabase, testSecret } from '../helpers/backends.js';

const actor = { actor: 'test', requestId: null };

describe('client secrets remembered by two servers on one database', () => {
  let database: { url: string; drop(): Promise<void> };
  let one: Services;
  let two: Services;
  let domainId: string;

  const open = async () =>
    buildServices(await openStore({ kind: 'postgres', url: database.url, poolSize: 3 }), testSecret, {
      providers: new Map(),
      slugQuarantineMs: 0,
    });

  beforeAll(async () => {
    database = await createTestDatabase();
    one = await open();
    two = await open();
    domainId = (await one.domains.create(actor, { slug: 'secrets', name: 's' })).id;
  });
  afterAll(async () => {
    await Promise.allSettled([one.close(), two.close()]);
    await database.drop();
  });

  /** A new service account, its secret checked (and so remembered) by both servers. */
  const service = async () => {
    const created = (await one.principals.create(actor, domainId, { kind: 'service' })) as {
      id: string;
      clientId: string;
      clientSecret: string;
    };
    const id = canonicalClientId(created.clientId);
    for (const server of [one, two])
      expect((await server.principals.checkClient(id, created.clientSecret))?.id).toBe(created.id);
    return { ...created, id: created.id, client: id };
  };

  it('refuses at both servers the old secret of a service whose secret was replaced', async () => {
    const s = await service();
    const replacement = 'bhs_replacement-secret-0123456789abcdefghijklmnop';
    const hash = await hashSecret(replacement);
    await asOwner(one.store, (tx) =>
      tx.updateTable('principals').set({ secret_hash: hash }).where('id', '=', s.id).execute(),
    );
    for (const server of [one, two]) {
      expect(await server.principals.checkClient(s.client, s.clientSecret)).toBeNull();
      expect((await server.principals.checkClient(s.client, replacement))?.id).toBe(s.id);
    }
  });

  it('refuses at both servers, at once, a service disabled or deleted through one', async () => {
    for (const status of ['disabled', 'deleted'] as const) {
      const s = await service();
      await one.principals.setStatus(actor, domainId, s.id, status);
      for (const server of [one, two])
        expect(await server.principals.checkClient(s.client, s.clientSecret)).toBeNull();
    }
  });

  it('refuses at both servers, at once, a registered client deleted or given a new secret', async () => {
    const register = async () => {
      const created = await one.oauthClients.create(actor, domainId, {
        name: 'app',
        kind: 'confidential',
        redirectUris: ['https://app.example/cb'],
        grantTypes: ['authorization_code'],
      });
      for (const server of [one, two])
        expect(
          (await server.oauthClients.check(created.clientId, created.clientSecret!, 'client_secret_basic'))
            ?.id,
        ).toBe(created.id);
      return created;
    };
    const deleted = await register();
    await two.oauthClients.delete(actor, domainId, deleted.id);
    for (const server of [one, two])
      expect(
        await server.oauthClients.check(deleted.clientId, deleted.clientSecret!, 'client_secret_basic'),
      ).toBeNull();

    const rotated = await register();
    const hash = await hashSecret('bhs_another-secret-0123456789abcdefghijklmnopqr');
    await asOwner(one.store, (tx) =>
      tx.updateTable('oauth_clients').set({ secret_hash: hash }).where('id', '=', rotated.id).execute(),
    );
    for (const server of [one, two])
      expect(
        await server.oauthClients.check(rotated.clientId, rotated.clientSecret!, 'client_secret_basic'),
      ).toBeNull();
  });
});

describe('CheckedSecrets', () => {
  const timed = async (fn: () => Promise<boolean>) => {
    const started = performance.now();
    const ok = await fn();
    return { ok, ms: performance.now() - started };
  };

  it('remembers matches only, and only for the stored hash they matched', async () => {
    const checked = new CheckedSecrets({ ttlMs: 60_000 });
    const stored = await hashSecret('right secret, long enough');
    const other = await hashSecret('right secret, long enough');
    expect(await checked.verify('wrong secret, long enough', stored)).toBe(false);
    const first = await timed(() => checked.verify('right secret, long enough', stored));
    expect(first.ok).toBe(true);
    // Remembered: answered without scrypt, a small fraction of its time.
    const again = await timed(() => checked.verify('right secret, long enough', stored));
    expect(again.ok).toBe(true);
    expect(again.ms).toBeLessThan(first.ms / 4);
    expect(await checked.verify('wrong secret, long enough', stored)).toBe(false);
    // The same secret under another stored hash (another salt) is checked again, against that hash.
    expect((await timed(() => checked.verify('right secret, long enough', other))).ms).toBeGreaterThan(
      again.ms,
    );
    const replaced = await hashSecret('a new secret, long enough');
    expect(await checked.verify('right secret, long enough', replaced)).toBe(false);
  });

  it('forgets a match after its time', async () => {
    const checked = new CheckedSecrets({ ttlMs: 1 });
    const stored = await hashSecret('right secret, long enough');
    const first = await timed(() => checked.verify('right secret, long enough', stored));
    expect(first.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    const later = await timed(() => checked.verify('right secret, long enough', stored));
    expect(later.ok).toBe(true);
    expect(later.ms).toBeGreaterThan(first.ms / 4); // scrypt again
  });
});
