// Deleting a domain removes everything it owned, on both stores: its resources on their backends (the
// PostgreSQL role and database, the storage area and its objects), its instances, its volumes (zeroed)
// and their directory, its sessions, keys, signing keys, grants from and to it, and its billing state
// but its invoices. Two servers share the store and the volume disks; the one that deletes the domain has
// its volume worker stopped (as if killed), and the other's reconcilers finish the work. The check reads the
// catalog for every table with a domain column, so a table added later cannot be forgotten: after the
// purge, nothing of the domain remains but its audit trail, its invoices and the record that its data
// key was destroyed.
import { existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { buildServices, type Services } from '../../src/runtime.js';
import { finishDeletedDomains } from '../../src/store/migrations.js';
import { keptTables, purgedTables } from '../../src/store/repositories/domain-purge.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends, testSecret } from '../helpers/backends.js';
import { callerOf, operatorToken } from '../helpers/api.js';
import { openTestProviders, type TestProviders } from '../helpers/providers.js';
import { createTenant, type Tenant } from '../helpers/tenants.js';

/** Every table of the store with a column that names a domain, and those columns. */
async function domainColumns(store: Store): Promise<Map<string, string[]>> {
  const { rows } = await asOwner(store, (tx) =>
    sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND column_name LIKE '%domain_id'
      ORDER BY table_name, column_name`.execute(tx),
  );
  const tables = new Map<string, string[]>();
  for (const r of rows) tables.set(r.table_name, [...(tables.get(r.table_name) ?? []), r.column_name]);
  return tables;
}

/** How many rows of each table name the domain. */
async function rowsOf(store: Store, domainId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [table, columns] of await domainColumns(store)) {
    const where = sql.join(
      columns.map((c) => sql`${sql.ref(c)} = ${domainId}`),
      sql` OR `,
    );
    const { rows } = await asOwner(store, (tx) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE ${where}`.execute(tx),
    );
    counts[table] = rows[0]!.n;
  }
  return counts;
}

describe.each(backends)('deleting a domain on $name', (backend) => {
  let store: Store & { drop(): Promise<void> };
  let providers: TestProviders;
  let volumeRoot: string;
  const servers: { services: Services; app: App }[] = [];
  let a: Tenant;
  let b: Tenant;

  const call = (i: number) => callerOf(() => servers[i]!.app);

  beforeAll(async () => {
    store = await backend.open();
    providers = await openTestProviders();
    volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-volumes-purge-'));
    for (let i = 0; i < 2; i++) {
      const services = buildServices(store, testSecret, {
        providers: providers.providers,
        slugQuarantineMs: 0,
        volumeRoot,
        maxVolumeBytes: 4 * 1024 * 1024,
      });
      if (i === 0) {
        providers.bind(services.keyring);
        await services.operator.initialise(operatorToken);
      }
      servers.push({ services, app: await buildServer(services) });
    }
    a = await createTenant(servers[0]!.app, operatorToken, `purge-a-${process.pid}`);
    b = await createTenant(servers[0]!.app, operatorToken, `purge-b-${process.pid}`);
  });

  afterAll(async () => {
    for (const { app, services } of servers) {
      await app.close();
      await services.provisioner.stop();
      await services.compute.stop();
    }
    for (const p of providers.providers.values()) await p.close();
    providers.remove();
    await store.drop();
    rmSync(volumeRoot, { recursive: true, force: true });
  });

  it('removes everything the domain owned, on every backend and in every table, but its audit and invoices', async () => {
    const c = call(0);
    const base = `/v1/domains/${a.id}`;
    const as = { tenant: a, credential: 'key' as const };
    // Something of A in every place a domain can own something.
    const db = await c('POST', `${base}/resources`, { ...as, body: { kind: 'postgres', name: 'db' } });
    expect(db.statusCode, db.body).toBe(201);
    const files = await c('POST', `${base}/resources`, { ...as, body: { kind: 'storage', name: 'files' } });
    expect(files.statusCode, files.body).toBe(201);
    const filesId = files.json<{ id: string }>().id;
    const put = await c('PUT', `${base}/resources/${filesId}/objects/secret.txt`, {
      ...as,
      body: Buffer.from('A-SECRET'),
    });
    expect(put.statusCode, put.body).toBe(200);
    const instance = await c('POST', `${base}/instances`, { ...as, body: { name: 'web' } });
    expect(instance.statusCode, instance.body).toBe(201);
    const volumes: string[] = [];
    for (const name of ['data', 'logs']) {
      const v = await c('POST', `${base}/volumes`, { ...as, body: { name, sizeBytes: 64 * 1024 } });
      expect(v.statusCode, v.body).toBe(201);
      volumes.push(v.json<{ id: string }>().id);
    }
    const attached = await c('POST', `${base}/volumes/${volumes[0]}/attach`, {
      ...as,
      body: { instanceId: instance.json<{ id: string }>().id },
    });
    expect(attached.statusCode, attached.body).toBe(200);
    for (const id of volumes) {
      const fd = openSync(join(volumeRoot, a.id, `${id}.img`), 'r+');
      writeSync(fd, Buffer.from('A-VOLUME-SECRET'), 0, 15, 0);
      closeSync(fd);
    }
    for (const [from, to] of [
      [a.id, b.id],
      [b.id, a.id],
    ]) {
      const grant = await c('POST', '/v1/grants', {
        body: {
          from,
          to,
          actions: ['volumes.read'],
          resources: ['*'],
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          reason: 'support case',
        },
      });
      expect(grant.statusCode, grant.body).toBe(201);
    }
    const details = await c('PUT', `${base}/billing`, {
      body: {
        name: 'A Ltd',
        addressLines: ['1 A Street'],
        city: 'Berlin',
        postalCode: '10115',
        country: 'DE',
        email: 'billing@a.example',
        taxId: null,
      },
    });
    expect(details.statusCode, details.body).toBe(200);
    const book = await c('PUT', '/v1/billing/prices', {
      body: {
        currency: 'EUR',
        meters: [
          { meter: 'emails', unit: 'email', unitPrice: 25, overrides: [{ domainId: a.id, unitPrice: 10 }] },
        ],
      },
    });
    expect(book.statusCode, book.body).toBe(200);
    const usage = await c('POST', `${base}/usage`, {
      body: { meter: 'emails', quantity: 3, eventId: 'emails-1', at: new Date().toISOString() },
    });
    expect(usage.statusCode, usage.body).toBe(201);
    const bBefore = await rowsOf(store, b.id);
    const before = await rowsOf(store, a.id);
    for (const table of [
      'resources',
      'instances',
      'volumes',
      'sessions',
      'signing_keys',
      'grants',
      'usage_records',
      'price_overrides',
      'billing_details',
    ])
      expect(before[table], table).toBeGreaterThan(0);

    // Server 0 deletes A with its volume worker stopped (as if killed right after the commit): server 1's
    // reconcilers zero the volumes and purge the rows.
    await servers[0]!.services.compute.stop();
    const deleted = await c('DELETE', base);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect((await c('GET', `${base}/volumes`, as)).statusCode).toBe(401);
    const other = servers[1]!.services;
    // The pass the DELETE started on server 0 (it holds the resources' leases), then server 1's own.
    await servers[0]!.services.provisioner.reconcile();
    await other.provisioner.reconcile();
    await other.compute.reconcile();
    await other.compute.zeroing();
    await other.provisioner.reconcile();

    // Every backend is empty of A; its rows wait for its final invoice.
    for (const [kind, provider] of providers.providers) {
      const owned = (await provider.listOwned()).filter((o) => o.ref.domainId === a.id);
      expect(owned, kind).toEqual([]);
    }
    expect(readdirSync(join(volumeRoot, a.id))).toEqual([]);
    expect(await other.purge.purge()).toBe(0);

    // The month A was deleted in is closed (the close told it is a second into the next month), which
    // writes A's final invoice; then the purge takes A.
    const now = new Date();
    const period = now.toISOString().slice(0, 7);
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1, 0, 0, 1));
    const closed = await other.billing.closeDomainPeriod(
      { actor: 'operator', requestId: null },
      a.id,
      period,
      nextMonth,
    );
    expect(closed.created).toBe(1);
    expect(await other.purge.purge()).toBe(1);
    expect(await servers[0]!.services.purge.purge()).toBe(0);

    const after = await rowsOf(store, a.id);
    const tables = [...(await domainColumns(store)).keys()];
    // Every table with a domain column is either emptied by the purge or kept on purpose.
    expect([...purgedTables.map(([t]) => t), ...keptTables].sort()).toEqual(tables.sort());
    for (const table of tables) {
      if (keptTables.includes(table)) continue;
      expect(after[table], table).toBe(0);
    }
    expect(after['audit_events']).toBeGreaterThan(before['audit_events']!);
    expect(after['invoices']).toBe(1);
    const [key] = await asOwner(store, (tx) =>
      tx.selectFrom('domain_keys').selectAll().where('domain_id', '=', a.id).execute(),
    );
    expect(key?.wrapped_key).toBeNull();
    expect(existsSync(join(volumeRoot, a.id))).toBe(false);
    // B lost only the grants it shared with A.
    expect(await rowsOf(store, b.id)).toEqual({ ...bBefore, grants: 0 });
    // The audit says what went, once.
    const purged = await asOwner(store, (tx) =>
      tx
        .selectFrom('audit_events')
        .select('detail')
        .where('domain_id', '=', a.id)
        .where('action', '=', 'domain.purged')
        .execute(),
    );
    expect(purged).toHaveLength(1);
  });

  it('ends the instances and zeroes the volumes of a domain deleted before migration 0028', async () => {
    const c = await createTenant(servers[0]!.app, operatorToken, `purge-old-${process.pid}`);
    const as = { tenant: c, credential: 'key' as const };
    const base = `/v1/domains/${c.id}`;
    const instance = await call(0)('POST', `${base}/instances`, { ...as, body: { name: 'web' } });
    expect(instance.statusCode, instance.body).toBe(201);
    const volume = await call(0)('POST', `${base}/volumes`, {
      ...as,
      body: { name: 'data', sizeBytes: 4096 },
    });
    expect(volume.statusCode, volume.body).toBe(201);
    const volumeId = volume.json<{ id: string }>().id;
    const attached = await call(0)('POST', `${base}/volumes/${volumeId}/attach`, {
      ...as,
      body: { instanceId: instance.json<{ id: string }>().id },
    });
    expect(attached.statusCode, attached.body).toBe(200);
    // Deleted as the code before 0028 did: the domain's row alone.
    await asOwner(store, (tx) =>
      sql`UPDATE domains SET status = 'deleted', deleted_at = now() WHERE id = ${c.id}`.execute(tx),
    );
    await asOwner(store, (tx) => sql.raw(finishDeletedDomains).execute(tx));
    await servers[1]!.services.compute.reconcile();
    await servers[1]!.services.compute.zeroing();
    const rows = await asOwner(store, (tx) =>
      sql<{ kind: string; status: string }>`
        SELECT 'instance' AS kind, status FROM instances WHERE domain_id = ${c.id}
        UNION ALL SELECT 'volume', status FROM volumes WHERE domain_id = ${c.id}
        ORDER BY kind`.execute(tx),
    );
    expect(rows.rows).toEqual([
      { kind: 'instance', status: 'deleted' },
      { kind: 'volume', status: 'deleted' },
    ]);
    expect(existsSync(join(volumeRoot, c.id, `${volumeId}.img`))).toBe(false);
  });
});
