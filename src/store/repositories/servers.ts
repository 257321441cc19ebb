// The servers running on one store, each named by its host and its volume directory, with whether the
// operator declared that directory shared by every server. A server records itself when it starts and
// again on its reconcile schedule, and removes itself when it stops; a server killed leaves its row, which
// stops counting once it is not seen for a while. System context only: no domain's record.
import { sql } from 'kysely';
import type { ServerRow } from '../schema.js';
import type { SystemTx } from '../store.js';

/** One server's record. */
export interface ServerRecord {
  readonly host: string;
  readonly volumeDir: string;
  readonly volumeDirShared: boolean;
}

/**
 * Records `self` as running at `at` (the same host and directory is the same server, restarted) and
 * answers the other servers seen since `liveSince`. Starts are taken one at a time, so two servers
 * starting together each see the other.
 */
export async function recordServerStart(
  tx: SystemTx,
  self: ServerRecord,
  at: Date,
  liveSince: Date,
): Promise<ServerRow[]> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended('bulkhead.servers', 0))`.execute(tx);
  await upsert(tx, self, at);
  return tx
    .selectFrom('servers')
    .selectAll()
    .where('seen_at', '>=', liveSince)
    .where((eb) => eb.or([eb('host', '<>', self.host), eb('volume_dir', '<>', self.volumeDir)]))
    .orderBy('host')
    .execute();
}

/** Records that `self` is still running at `at`. */
export async function recordServerSeen(tx: SystemTx, self: ServerRecord, at: Date): Promise<void> {
  await upsert(tx, self, at);
}

/** Removes `self`'s record (it stopped, or refused to start). */
export async function removeServer(tx: SystemTx, self: ServerRecord): Promise<void> {
  await tx
    .deleteFrom('servers')
    .where('host', '=', self.host)
    .where('volume_dir', '=', self.volumeDir)
    .execute();
}

async function upsert(tx: SystemTx, self: ServerRecord, at: Date): Promise<void> {
  await tx
    .insertInto('servers')
    .values({
      host: self.host,
      volume_dir: self.volumeDir,
      volume_dir_shared: self.volumeDirShared,
      started_at: at,
      seen_at: at,
    })
    .onConflict((oc) =>
      oc
        .columns(['host', 'volume_dir'])
        .doUpdateSet({ volume_dir_shared: self.volumeDirShared, seen_at: at }),
    )
    .execute();
}
