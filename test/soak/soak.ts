// The multi-server soak: three `bulkhead serve` processes (the built CLI) on one PostgreSQL store, with
// storage areas and volumes on one S3 store (s3rver on a temporary directory), clients spread across them
// creating and deleting storage resources, objects and volumes, retrying on another server whatever a
// server killed under them did not answer (creates with the same Idempotency-Key). Servers are killed
// (`kill -9`) and started again during the run. Afterwards, with every server up and their reconcilers
// run: no answer was a 5xx, nothing is left in a transitional state, the S3 store holds an object for
// every live resource and volume and for nothing else, objects came back byte-exact from other servers,
// the audit chain verifies, and a key revoked through one server is refused by every one of them.
import { createHash, randomBytes } from 'node:crypto';
import { createTestDatabase } from '../helpers/backends.js';
import { startS3Server, type S3Server } from '../helpers/s3.js';
import { assertBuilt, startServer, tempDir, type Server } from '../helpers/processes.js';

export interface SoakOptions {
  readonly durationMs: number;
  /** How many `kill -9` and restarts, spread evenly over the run. */
  readonly kills: number;
  /** Clients (each a domain of its own) sending requests at once. */
  readonly clients: number;
}

export interface SoakReport {
  readonly requests: number;
  readonly serverErrors: readonly string[];
  /** Requests that found their server killed and were sent again to another. */
  readonly retried: number;
  /** Creates sent again after a 409 `idempotency_conflict`: their key's claim was a killed server's. */
  readonly claimWaits: number;
  readonly kills: number;
  readonly resourcesCreated: number;
  readonly resourcesDeleted: number;
  readonly volumesCreated: number;
  readonly volumesDeleted: number;
  readonly objectsChecked: number;
  readonly mismatches: readonly string[];
  /** Resources or volumes still in a transitional state after the servers settled. */
  readonly stuck: readonly string[];
  /** S3 keys of nothing live, and live things without their S3 key. */
  readonly orphans: readonly string[];
  readonly missing: readonly string[];
  readonly auditOk: boolean;
  readonly auditChecked: number;
  /** Servers that still accepted a revoked key. */
  readonly revocationMisses: readonly string[];
  readonly requestsPerSecond: number;
  readonly p95Ms: number;
}

const operatorToken = 'soak-operator-token-0123456789abcdef0123';

interface Tenant {
  readonly id: string;
  readonly key: string;
}

class Cluster {
  readonly servers: (Server | null)[] = [];
  requests = 0;
  retried = 0;
  claimWaits = 0;
  readonly latencies: number[] = [];
  readonly serverErrors: string[] = [];

  constructor(private readonly env: Record<string, string>) {}

  async start(slot: number): Promise<void> {
    this.servers[slot] = await startServer(['serve', '--port', '0', '--log-level', 'error'], {
      env: { ...this.env, BULKHEAD_DATA_DIR: `${this.env.BULKHEAD_DATA_DIR!}-${slot}` },
      timeoutMs: 90_000,
    });
  }

  kill(slot: number): Promise<unknown> {
    const server = this.servers[slot];
    this.servers[slot] = null;
    if (server === null || server === undefined) return Promise.resolve();
    server.child.kill('SIGKILL');
    return server.exited;
  }

  /**
   * Sends a create with an `Idempotency-Key` as a careful client does: a 409 `idempotency_conflict` (the
   * same key still being answered, perhaps by a server killed meanwhile, whose claim runs out) is sent
   * again after its `Retry-After`, until it has an answer of its own.
   */
  async create(
    slot: number,
    path: string,
    options: { auth: string; body: unknown; headers: { 'idempotency-key': string } },
  ): Promise<{ status: number; body: Buffer; json: <T>() => T }> {
    for (let waited = 0; ; waited++) {
      const answer = await this.call(slot + waited, 'POST', path, options);
      if (answer.status !== 409 || waited >= 40) return answer;
      if (answer.json<{ code?: string }>().code !== 'idempotency_conflict') return answer;
      this.claimWaits++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /**
   * Sends a request to server `slot` (or the next one up); when the connection fails (the server was
   * killed), sends it again to another. Any 5xx is recorded.
   */
  async call(
    slot: number,
    method: string,
    path: string,
    options: { auth?: string; body?: unknown; raw?: Buffer; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: Buffer; json: <T>() => T }> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const target = this.pick(slot + attempt);
      if (target === null) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      const headers: Record<string, string> = { ...options.headers };
      if (options.auth !== undefined) headers.authorization = `Bearer ${options.auth}`;
      let body: string | Buffer | null = null;
      if (options.raw !== undefined) {
        body = options.raw;
        headers['content-type'] = 'application/octet-stream';
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      }
      const started = performance.now();
      let response: Response;
      try {
        this.requests++;
        response = await fetch(`${target.url}${path}`, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(30_000),
        });
      } catch {
        this.retried++;
        continue;
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      this.latencies.push(performance.now() - started);
      if (response.status >= 500) {
        this.serverErrors.push(
          `${method} ${path} → ${response.status} ${bytes.toString('utf8').slice(0, 300)}`,
        );
      }
      return {
        status: response.status,
        body: bytes,
        json: <T>() => JSON.parse(bytes.toString('utf8')) as T,
      };
    }
    throw new Error(`${method} ${path}: no server answered`);
  }

  private pick(slot: number): Server | null {
    for (let i = 0; i < this.servers.length; i++) {
      const server = this.servers[(slot + i) % this.servers.length];
      if (server !== null && server !== undefined) return server;
    }
    return null;
  }
}

const op = { auth: operatorToken };

async function createTenant(cluster: Cluster, slug: string): Promise<Tenant> {
  const d = await cluster.call(0, 'POST', '/v1/domains', { ...op, body: { slug, name: slug } });
  if (d.status !== 201) throw new Error(`creating ${slug}: ${d.status} ${d.body.toString()}`);
  const id = d.json<{ id: string }>().id;
  const k = await cluster.call(0, 'POST', `/v1/domains/${id}/keys`, { ...op, body: {} });
  if (k.status !== 201) throw new Error(`a key for ${slug}: ${k.status} ${k.body.toString()}`);
  return { id, key: k.json<{ key: string }>().key };
}

interface Counts {
  resourcesCreated: number;
  resourcesDeleted: number;
  volumesCreated: number;
  volumesDeleted: number;
  objectsChecked: number;
  readonly mismatches: string[];
}

/** One client's loop: a storage area with objects read back through other servers, then a volume. */
async function client(
  cluster: Cluster,
  tenant: Tenant,
  index: number,
  until: number,
  counts: Counts,
): Promise<void> {
  const base = `/v1/domains/${tenant.id}`;
  const as = { auth: tenant.key };
  let round = 0;
  while (Date.now() < until) {
    round++;
    const slot = index + round;
    const idempotencyKey = `soak-${index}-${round}-${randomBytes(4).toString('hex')}`;
    const created = await cluster.create(slot, `${base}/resources`, {
      ...as,
      body: { kind: 'storage', name: `area-${round}` },
      headers: { 'idempotency-key': idempotencyKey },
    });
    if (created.status !== 201 && created.status !== 200 && created.status !== 202) {
      counts.mismatches.push(`create resource → ${created.status} ${created.body.toString()}`);
      continue;
    }
    // The same key again, through another server: the same resource, not a second one.
    const again = await cluster.create(slot + 1, `${base}/resources`, {
      ...as,
      body: { kind: 'storage', name: `area-${round}` },
      headers: { 'idempotency-key': idempotencyKey },
    });
    const id = created.json<{ id: string }>().id;
    if (again.status < 300 && again.json<{ id: string }>().id !== id) {
      counts.mismatches.push(`idempotent create made ${again.json<{ id: string }>().id} beside ${id}`);
    }
    counts.resourcesCreated++;
    for (let waited = 0; waited < 50; waited++) {
      const r = await cluster.call(slot, 'GET', `${base}/resources/${id}`, as);
      if (r.status === 200 && r.json<{ status: string }>().status === 'ready') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const data = randomBytes(1000 + ((round * 7919) % 50_000));
    const put = await cluster.call(slot, 'PUT', `${base}/resources/${id}/objects/o-${round}`, {
      ...as,
      raw: data,
    });
    if (put.status === 200) {
      const got = await cluster.call(slot + 1, 'GET', `${base}/resources/${id}/objects/o-${round}`, as);
      counts.objectsChecked++;
      if (got.status !== 200 || !got.body.equals(data)) {
        counts.mismatches.push(
          `object ${id}/o-${round}: ${got.status}, ${createHash('sha256').update(got.body).digest('hex')}`,
        );
      }
      // Every other round the object is deleted on its own, twice, through two servers.
      if (round % 2 === 0) {
        for (const s of [slot + 2, slot]) {
          const d = await cluster.call(s, 'DELETE', `${base}/resources/${id}/objects/o-${round}`, as);
          if (d.status !== 204 && d.status !== 404 && d.status !== 200) {
            counts.mismatches.push(`delete object → ${d.status}`);
          }
        }
      }
    } else if (put.status !== 404 && put.status !== 409) {
      counts.mismatches.push(`put object → ${put.status} ${put.body.toString()}`);
    }
    // Most resources are deleted, twice at once through two servers; a few stay to the end.
    if (round % 4 !== 0) {
      const deletes = await Promise.all(
        [slot + 1, slot + 2].map((s) => cluster.call(s, 'DELETE', `${base}/resources/${id}`, as)),
      );
      for (const d of deletes) {
        if (d.status !== 200 && d.status !== 202) counts.mismatches.push(`delete resource → ${d.status}`);
      }
      counts.resourcesDeleted++;
    }
    const v = await cluster.call(slot + 2, 'POST', `${base}/volumes`, {
      ...as,
      body: { name: `vol-${round}`, sizeBytes: 64 * 1024 },
    });
    if (v.status !== 201) {
      if (v.status !== 409 && v.status !== 429) counts.mismatches.push(`create volume → ${v.status}`);
      continue;
    }
    counts.volumesCreated++;
    if (round % 3 !== 0) {
      const volumeId = v.json<{ id: string }>().id;
      const d = await cluster.call(slot, 'DELETE', `${base}/volumes/${volumeId}`, as);
      if (d.status !== 200) counts.mismatches.push(`delete volume → ${d.status}`);
      counts.volumesDeleted++;
    }
  }
}

/** Runs the soak and returns what it saw; the caller asserts. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  assertBuilt();
  const database = await createTestDatabase();
  const dir = tempDir('bulkhead-soak-');
  let s3: S3Server | undefined;
  let cluster: Cluster | undefined;
  try {
    s3 = await startS3Server();
    cluster = new Cluster({
      ...s3.env,
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_SECRET: 'e5'.repeat(32),
      BULKHEAD_OPERATOR_TOKEN: operatorToken,
      BULKHEAD_DATA_DIR: `${dir.path}/data`,
      BULKHEAD_RECONCILE_SECONDS: '2',
      BULKHEAD_LEASE_SECONDS: '3',
      BULKHEAD_QUOTA_RESOURCES: '1000',
      BULKHEAD_QUOTA_VOLUMES: '1000',
      BULKHEAD_DOMAIN_REQUESTS_PER_SECOND: '0',
      BULKHEAD_DOMAIN_CONCURRENT_REQUESTS: '0',
    });
    // The first server migrates the store; the others start beside it.
    await cluster.start(0);
    await Promise.all([cluster.start(1), cluster.start(2)]);
    const c = cluster;
    const tenants: Tenant[] = [];
    for (let i = 0; i < options.clients; i++) {
      tenants.push(await createTenant(c, `soak-${i}-${randomBytes(3).toString('hex')}`));
    }
    const counts: Counts = {
      resourcesCreated: 0,
      resourcesDeleted: 0,
      volumesCreated: 0,
      volumesDeleted: 0,
      objectsChecked: 0,
      mismatches: [],
    };
    const started = Date.now();
    const until = started + options.durationMs;
    const killer = (async () => {
      for (let k = 0; k < options.kills; k++) {
        const at = started + ((k + 1) * options.durationMs) / (options.kills + 1);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
        const slot = k % 3;
        await c.kill(slot);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await c.start(slot);
      }
    })();
    await Promise.all(tenants.map((t, i) => client(c, t, i, until, counts)));
    await killer;
    const elapsed = (Date.now() - started) / 1000;

    // Settle: every server is up; their reconcilers (every 2 s, leases of 3 s) finish what was left. An
    // object a create wrote before its server was killed (no row committed) is swept once it is a minute
    // old, so the check waits for that too.
    const transitional = new Set(['pending', 'provisioning', 'deprovisioning', 'deleting']);
    const check = async (
      turn: number,
    ): Promise<{ stuck: string[]; orphans: string[]; missing: string[] }> => {
      const stuck: string[] = [];
      const orphans: string[] = [];
      const missing: string[] = [];
      for (const t of tenants) {
        const r = await c.call(turn, 'GET', `/v1/domains/${t.id}/resources`, { auth: t.key });
        const resources = r.json<{ items: { id: string; status: string }[] }>().items;
        const v = await c.call(turn, 'GET', `/v1/domains/${t.id}/volumes`, { auth: t.key });
        const volumeRows = v.json<{ items: { id: string; status: string }[] }>().items;
        for (const item of [...resources, ...volumeRows]) {
          if (transitional.has(item.status)) stuck.push(`${item.id} ${item.status}`);
        }
        // The S3 store against what is live: a marker per ready storage area, an object per live volume.
        const live = new Set(resources.filter((i) => i.status === 'ready').map((i) => i.id.slice(4)));
        const volumes = new Set(volumeRows.filter((i) => i.status !== 'deleted').map((i) => i.id));
        const keys = await s3!.keys(`bulkhead/${t.id}/`);
        for (const key of keys) {
          const volume = /\/volumes\/(vol_[0-9a-z]+)\.img$/.exec(key)?.[1];
          const area = /\/bh_[0-9a-z]+_([0-9a-z]+)\//.exec(key)?.[1];
          if (volume !== undefined ? !volumes.has(volume) : area === undefined || !live.has(area)) {
            orphans.push(key);
          }
        }
        for (const id of live) {
          if (!keys.some((k) => k.includes(`_${id}/resource`))) missing.push(`res_${id}`);
        }
        for (const id of volumes) if (!keys.some((k) => k.endsWith(`/${id}.img`))) missing.push(id);
      }
      return { stuck, orphans, missing };
    };
    let settled = await check(0);
    for (let turn = 1; turn < 120; turn++) {
      if (settled.stuck.length + settled.orphans.length + settled.missing.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      settled = await check(turn);
    }
    const { stuck, orphans, missing } = settled;

    const audit = (await c.call(1, 'GET', '/v1/audit/verify', op)).json<{ ok: boolean; checked: number }>();

    // A key revoked through one server is refused by every server.
    const t0 = tenants[0]!;
    const k = await c.call(0, 'POST', `/v1/domains/${t0.id}/keys`, { ...op, body: {} });
    const issued = k.json<{ id: string; key: string }>();
    for (let s = 0; s < 3; s++)
      await c.call(s, 'GET', `/v1/domains/${t0.id}/resources`, { auth: issued.key });
    const revoked = await c.call(0, 'DELETE', `/v1/domains/${t0.id}/keys/${issued.id}`, op);
    const revocationMisses: string[] = [];
    if (revoked.status >= 300) revocationMisses.push(`revoking answered ${revoked.status}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let s = 0; s < 3; s++) {
      const server = c.servers[s]!;
      const r = await fetch(`${server.url}/v1/domains/${t0.id}/resources`, {
        headers: { authorization: `Bearer ${issued.key}` },
      });
      if (r.status !== 401) revocationMisses.push(`server ${s} answered ${r.status}`);
    }

    const sorted = [...c.latencies].sort((a, b) => a - b);
    return {
      requests: c.requests,
      serverErrors: c.serverErrors,
      retried: c.retried,
      claimWaits: c.claimWaits,
      kills: options.kills,
      ...counts,
      stuck,
      orphans,
      missing,
      auditOk: audit.ok,
      auditChecked: audit.checked,
      revocationMisses,
      requestsPerSecond: c.requests / elapsed,
      p95Ms: sorted[Math.floor(sorted.length * 0.95)] ?? 0,
    };
  } finally {
    if (cluster !== undefined) for (let s = 0; s < 3; s++) await cluster.kill(s);
    await s3?.stop();
    await database.drop();
    dir.remove();
  }
}
