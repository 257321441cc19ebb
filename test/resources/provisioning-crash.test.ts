// Kill -9 at each step of provisioning and deprovisioning, then restart: every resource ends ready or
// cleanly undone, and the backend's own listing matches the store (no orphaned role, database or
// directory). A volume whose zeroing a kill interrupted is zeroed to its end by the next server, and an
// object write's storage reservation that died with its server is released. Runs the built server
// against PostgreSQL (store and backend) and local storage.
import { closeSync, existsSync, openSync, readSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { refFromBackendName } from '../../src/providers/provider.js';
import { VolumeDisks } from '../../src/providers/storage/volume-disks.js';
import { createDomainWithKey, httpCallerOf } from '../helpers/api.js';
import { createTestDatabase, testPostgresUrl } from '../helpers/backends.js';
import { assertBuilt, killAll, runCli, startServer, tempDir, type Server } from '../helpers/processes.js';

const token = 'crash-test-operator-token-0123456789abcdef';
const secret = 'c'.repeat(64);

describe('recovery after kill -9', () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let env: Record<string, string>;
  let store: pg.Client;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-crash-');
    env = {
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_SECRET: secret,
      BULKHEAD_OPERATOR_TOKEN: token,
      BULKHEAD_POSTGRES_URL: testPostgresUrl,
      BULKHEAD_STORAGE_DIR: `${dir.path}/storage`,
      // One volume directory for every server the test starts: a killed server's record stays on the
      // store for a while, and a server with another directory beside it would refuse to start.
      BULKHEAD_VOLUME_DIR: `${dir.path}/volumes`,
      BULKHEAD_LEASE_SECONDS: '1',
      BULKHEAD_RECONCILE_SECONDS: '3600',
    };
    store = new pg.Client({ connectionString: database.url });
    await store.connect();
  });

  afterEach(async () => {
    await killAll();
  });

  afterAll(async () => {
    // Remove whatever the runs left (a clean shutdown with every domain deleted reconciles it all).
    const server = await serve();
    const domains = (await (
      await fetch(`${server.url}/v1/domains?limit=500`, { headers: auth(token) })
    ).json()) as { items: { id: string }[] };
    for (const d of domains.items)
      await fetch(`${server.url}/v1/domains/${d.id}`, { method: 'DELETE', headers: auth(token) });
    server.child.kill('SIGTERM');
    await server.exited;
    await new Promise((r) => setTimeout(r, 1100));
    const cleanup = await serve(); // its start-up reconcile removes the deleted domains' resources
    cleanup.child.kill('SIGTERM');
    await cleanup.exited;
    await store.end();
    await database.drop();
    dir.remove();
  });

  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  function serve(extra: Record<string, string> = {}): Promise<Server> {
    return startServer(['serve', '--port', '0', '--log-level', 'warn'], {
      env: { ...env, ...extra },
      timeoutMs: 60_000,
    });
  }

  async function json<T>(response: Response): Promise<T> {
    const text = await response.text();
    return JSON.parse(text) as T;
  }

  const domainWithKey = (server: Server, slug: string) =>
    createDomainWithKey(httpCallerOf(server.url, { token }), { slug });

  /** Backend names that exist for a domain, from the backends' own listings. */
  async function backendNames(domainId: string, kind: 'postgres' | 'storage'): Promise<string[]> {
    if (kind === 'postgres') {
      const admin = new pg.Client({ connectionString: testPostgresUrl });
      await admin.connect();
      try {
        const roles = await admin.query<{ name: string }>(
          "SELECT rolname AS name FROM pg_roles WHERE rolname LIKE 'bh\\_%'",
        );
        const dbs = await admin.query<{ name: string }>(
          "SELECT datname AS name FROM pg_database WHERE datname LIKE 'bh\\_%'",
        );
        return [...roles.rows, ...dbs.rows]
          .map((r) => r.name)
          .filter((n) => refFromBackendName(n)?.domainId === domainId);
      } finally {
        await admin.end();
      }
    }
    const { readdirSync, existsSync } = await import('node:fs');
    const root = `${dir.path}/storage`;
    return existsSync(root)
      ? readdirSync(root).filter((n) => refFromBackendName(n)?.domainId === domainId)
      : [];
  }

  async function rows(domainId: string) {
    return (
      await store.query<{ id: string; status: string; backend_name: string }>(
        'SELECT id, status, backend_name FROM resources WHERE domain_id = $1 ORDER BY id',
        [domainId],
      )
    ).rows;
  }

  for (const kind of ['postgres', 'storage'] as const) {
    for (const failpoint of ['after-reserve', 'after-allocate'] as const) {
      it(`finishes a ${kind} resource whose server died ${failpoint}`, async () => {
        const crashing = await serve({ BULKHEAD_TEST_FAILPOINT: failpoint });
        const domain = await domainWithKey(crashing, `crash-${kind}-${failpoint}`);
        await expect(
          fetch(`${crashing.url}/v1/domains/${domain.id}/resources`, {
            method: 'POST',
            headers: { ...auth(domain.key), 'content-type': 'application/json' },
            body: JSON.stringify({ kind, name: 'victim' }),
          }),
        ).rejects.toThrow();
        expect((await crashing.exited).signal).toBe('SIGKILL');
        const [left] = await rows(domain.id);
        expect(left!.status).toBe('provisioning');
        const names = await backendNames(domain.id, kind);
        expect(names.length > 0).toBe(failpoint === 'after-allocate');

        await new Promise((r) => setTimeout(r, 1100)); // the dead process's lease runs out
        const restarted = await serve();
        const [after] = await rows(domain.id);
        expect(after!.status).toBe('ready');
        const creds = await fetch(
          `${restarted.url}/v1/domains/${domain.id}/resources/${after!.id}/credentials`,
          { headers: auth(domain.key) },
        );
        expect(creds.status).toBe(200);
        if (kind === 'postgres') {
          const { url } = await json<{ url: string }>(creds);
          const tenant = new pg.Client({ connectionString: url });
          await tenant.connect();
          await tenant.query('SELECT 1');
          await tenant.end();
        }
        // One copy: the backend holds exactly the names of this one resource.
        const ref = (await backendNames(domain.id, kind)).map((n) => refFromBackendName(n)!.resourceId);
        expect(new Set(ref)).toEqual(new Set([after!.id]));
        restarted.child.kill('SIGTERM');
        await restarted.exited;
      });
    }

    it(`undoes a ${kind} resource whose server died mid-way when its domain was suspended meanwhile`, async () => {
      const crashing = await serve({ BULKHEAD_TEST_FAILPOINT: 'after-allocate' });
      const domain = await domainWithKey(crashing, `undo-${kind}`);
      await fetch(`${crashing.url}/v1/domains/${domain.id}/resources`, {
        method: 'POST',
        headers: { ...auth(domain.key), 'content-type': 'application/json' },
        body: JSON.stringify({ kind, name: 'victim' }),
      }).catch(() => undefined);
      await crashing.exited;
      const suspended = await runCli(['domain', 'suspend', domain.id], { env });
      expect(suspended.code, suspended.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      const restarted = await serve();
      const [after] = await rows(domain.id);
      expect(after!.status).toBe('failed');
      expect(await backendNames(domain.id, kind)).toEqual([]);
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    });

    it(`finishes deleting a ${kind} resource whose server died after marking it`, async () => {
      const normal = await serve();
      const domain = await domainWithKey(normal, `del-${kind}`);
      const created = await json<{ id: string; status: string }>(
        await fetch(`${normal.url}/v1/domains/${domain.id}/resources`, {
          method: 'POST',
          headers: { ...auth(domain.key), 'content-type': 'application/json' },
          body: JSON.stringify({ kind, name: 'doomed' }),
        }),
      );
      expect(created.status).toBe('ready');
      normal.child.kill('SIGTERM');
      await normal.exited;
      const crashing = await serve({ BULKHEAD_TEST_FAILPOINT: 'after-mark-delete' });
      await fetch(`${crashing.url}/v1/domains/${domain.id}/resources/${created.id}`, {
        method: 'DELETE',
        headers: auth(domain.key),
      }).catch(() => undefined);
      await crashing.exited;
      expect((await rows(domain.id))[0]!.status).toBe('deprovisioning');
      expect((await backendNames(domain.id, kind)).length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1100));
      const restarted = await serve();
      expect((await rows(domain.id))[0]!.status).toBe('deleted');
      expect(await backendNames(domain.id, kind)).toEqual([]);
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    });
  }

  it('resumes zeroing a deleted volume whose server died mid-way', async () => {
    const MiB = 1024 * 1024;
    const volumes = { BULKHEAD_VOLUME_DIR: `${dir.path}/volumes` };
    const slow = await serve({ ...volumes, BULKHEAD_VOLUME_ZERO_BYTES_PER_SECOND: String(MiB) });
    const domain = await domainWithKey(slow, 'crash-zeroing');
    const created = await json<{ id: string }>(
      await fetch(`${slow.url}/v1/domains/${domain.id}/volumes`, {
        method: 'POST',
        headers: { ...auth(domain.key), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'secret', sizeBytes: 4 * MiB }),
      }),
    );
    const path = new VolumeDisks(volumes.BULKHEAD_VOLUME_DIR).path({
      domainId: domain.id,
      volumeId: created.id,
    });
    writeFileSync(path, Buffer.alloc(4 * MiB, 0x5a), { flag: 'r+' });
    // Held open across the crash: it sees the very blocks the workers overwrite.
    const fd = openSync(path, 'r');
    try {
      const deleted = await fetch(`${slow.url}/v1/domains/${domain.id}/volumes/${created.id}`, {
        method: 'DELETE',
        headers: auth(domain.key),
      });
      expect(deleted.status).toBe(200);
      expect((await json<{ status: string }>(deleted)).status).toBe('deleting');
      await new Promise((r) => setTimeout(r, 1500));
      slow.child.kill('SIGKILL');
      await slow.exited;
      // Killed mid-way: the start is zeroed, the end is not, and the row still says deleting.
      const head = Buffer.alloc(1024);
      readSync(fd, head, 0, head.length, 0);
      const tail = Buffer.alloc(1024);
      readSync(fd, tail, 0, tail.length, 4 * MiB - tail.length);
      expect(head.every((b) => b === 0)).toBe(true);
      expect(tail.every((b) => b === 0x5a)).toBe(true);
      const volumeStatus = async () =>
        (await store.query<{ status: string }>('SELECT status FROM volumes WHERE id = $1', [created.id]))
          .rows[0]!.status;
      expect(await volumeStatus()).toBe('deleting');

      await new Promise((r) => setTimeout(r, 1100)); // the dead worker's claim runs out
      const restarted = await serve(volumes);
      for (let waited = 0; (await volumeStatus()) !== 'deleted'; waited += 100) {
        if (waited > 30_000) throw new Error('the restarted server did not finish zeroing the volume');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(existsSync(path)).toBe(false);
      const seen = Buffer.alloc(4 * MiB);
      expect(readSync(fd, seen, 0, seen.length, 0)).toBe(seen.length);
      expect(seen.every((b) => b === 0)).toBe(true);
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    } finally {
      closeSync(fd);
    }
  });

  it('releases the storage reservation of an object write whose server died', async () => {
    const MiB = 1024 * 1024;
    const first = await serve();
    const domain = await domainWithKey(first, 'crash-reservation');
    await fetch(`${first.url}/v1/domains/${domain.id}/pool`, {
      method: 'PUT',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify({ quotas: { storageBytes: 2 * MiB } }),
    });
    const resource = await json<{ id: string; status: string }>(
      await fetch(`${first.url}/v1/domains/${domain.id}/resources`, {
        method: 'POST',
        headers: { ...auth(domain.key), 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'storage', name: 'bucket' }),
      }),
    );
    expect(resource.status).toBe('ready');
    const objects = `/v1/domains/${domain.id}/resources/${resource.id}/objects`;
    // A write that declared the whole quota and is still sending when its server dies.
    const pending = request(`${first.url}${objects}/big`, {
      method: 'PUT',
      agent: false,
      headers: { ...auth(domain.key), 'content-length': String(2 * MiB) },
    });
    pending.on('error', () => undefined);
    pending.write(Buffer.alloc(64 * 1024, 1));
    const reserved = async () =>
      (
        await store.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM storage_reservations WHERE domain_id = $1',
          [domain.id],
        )
      ).rows[0]!.n;
    for (let waited = 0; (await reserved()) === 0; waited += 50) {
      if (waited > 10_000) throw new Error('the write never reserved its bytes');
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    await first.exited;
    pending.destroy();
    expect(await reserved()).toBe(1);

    await new Promise((r) => setTimeout(r, 1100)); // the dead writer's lease runs out
    const restarted = await serve();
    expect(await reserved()).toBe(0);
    const put = await fetch(`${restarted.url}${objects}/again`, {
      method: 'PUT',
      headers: auth(domain.key),
      body: Buffer.alloc(2 * MiB, 2),
    });
    expect(put.status, await put.text()).toBe(200);
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  });
});
