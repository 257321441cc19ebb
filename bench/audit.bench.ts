// What the hash-chained, same-transaction audit costs: creating a domain (row + chained audit event,
// under the chain lock) against a baseline that inserts the same domain row alone, and key
// authentication (HMAC, lookup, checks, audit event) against the same lookup without the audit write. Run with `npm run bench`; vitest prints
// operations per second and how many times faster the baseline is.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { verifyAudit } from '../src/audit/log.js';
import { newId } from '../src/domain/ids.js';
import { keyedHash } from '../src/keys/hash.js';
import { buildServices, type Services } from '../src/runtime.js';
import { openStore } from '../src/store/store.js';

const actor = { actor: 'bench', requestId: null };
const secret = randomBytes(32);
let services: Services;
let key: string;
let n = 0;

beforeAll(async () => {
  services = buildServices(await openStore({ kind: 'pglite' }), secret, { providers: new Map() });
  const d = await services.domains.create(actor, { slug: 'bench-keys', name: 'bench' });
  key = (await services.keys.issue(actor, d.id)).key;
});
afterAll(async () => {
  await services.store.close();
});

describe('create a domain (embedded store)', () => {
  bench('with its chained audit event', async () => {
    await services.domains.create(actor, { slug: `bench-a-${++n}`, name: 'bench' });
  });
  bench('baseline: the domain row alone', async () => {
    const now = new Date();
    await services.store.system('operator', (tx) =>
      tx
        .insertInto('domains')
        .values({
          id: newId('domain'),
          slug: `bench-b-${++n}`,
          name: 'bench',
          status: 'active',
          created_at: now,
          updated_at: now,
        })
        .execute(),
    );
  });
});

describe('authenticate a provisioning key (embedded store)', () => {
  bench('lookup, checks and audit event', async () => {
    await services.keys.authenticate(key, null);
  });
  bench('baseline: keyed hash and lookup, no audit event', async () => {
    await services.store.system('authenticate', (tx) =>
      tx
        .selectFrom('provisioning_keys')
        .select(['id', 'domain_id'])
        .where('hash', '=', keyedHash(secret, key))
        .executeTakeFirst(),
    );
  });
});

describe('verify the audit chain', () => {
  bench(
    'walk and recompute every event',
    async () => {
      await services.store.system('audit', verifyAudit);
    },
    { iterations: 5 },
  );
});
