// Several servers on one store must share the volume directory (docs/operating.md, "Several servers"):
// a server refuses to start beside a running server when either keeps volumes in a directory not
// declared shared, and starts when both declare it; the same host and directory is the same server
// (restarted); a server that stopped, or was not seen for three of its intervals, no longer counts.
// The embedded store is one process's alone and is not checked.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinStore, VolumeDirNotShared } from '../../src/runtime/servers.js';
import type { Store } from '../../src/store/store.js';
import { asOwner, backends } from '../helpers/backends.js';

describe('servers on one PostgreSQL store', () => {
  let store: Store & { drop(): Promise<void> };
  const everyMs = 60_000;

  beforeAll(async () => {
    store = await backends[1]!.open();
  });

  afterAll(async () => {
    await store.drop();
  });

  const join = (host: string, volumeDir: string, volumeDirShared: boolean) =>
    joinStore(store, { host, volumeDir, volumeDirShared, everyMs });

  it('refuses a second server unless both declare the volume directory shared', async () => {
    const one = await join('one', '/srv/volumes', false);
    // Another host, its own directory: its volumes would be out of the first server's reach.
    await expect(join('two', '/srv/volumes', false)).rejects.toThrow(VolumeDirNotShared);
    // Declared shared by the second alone: the first still keeps its own.
    await expect(join('two', '/srv/volumes', true)).rejects.toThrow(/BULKHEAD_VOLUME_DIR_SHARED=true/);
    // The same host and directory is the same server, restarted after a kill.
    const again = await join('one', '/srv/volumes', false);
    await again.leave();
    await one.leave();
    // Both shared: they run side by side.
    const a = await join('one', '/mnt/shared', true);
    const b = await join('two', '/mnt/shared', true);
    // And a third that keeps its own is refused.
    await expect(join('three', '/var/volumes', false)).rejects.toThrow(VolumeDirNotShared);
    await a.leave();
    await b.leave();
    const rows = await asOwner(store, (tx) => sql`SELECT host FROM servers`.execute(tx));
    expect(rows.rows).toEqual([]);
  });

  it('no longer counts a server unseen for three of its intervals', async () => {
    const killed = await join('killed', '/srv/volumes', false);
    void killed; // killed: it never leaves
    await asOwner(store, (tx) =>
      sql`UPDATE servers SET seen_at = now() - interval '181 seconds' WHERE host = 'killed'`.execute(tx),
    );
    const next = await join('next', '/srv/other', false);
    await next.leave();
  });
});

describe('servers on the embedded store', () => {
  it('are not checked: the store is one process’s alone', async () => {
    const store = await backends[0]!.open();
    try {
      const a = await joinStore(store, { host: 'a', volumeDir: '/a', volumeDirShared: false, everyMs: 1000 });
      const b = await joinStore(store, { host: 'b', volumeDir: '/b', volumeDirShared: false, everyMs: 1000 });
      await a.leave();
      await b.leave();
    } finally {
      await store.drop();
    }
  });
});
