// Several servers on one store (docs/operating.md, "Several servers"). A volume's bytes live in the
// volume directory of the server that created it; another server that deletes the volume zeroes only
// what it can reach. So servers may share a store only when they share that directory too: a server
// records itself in the store at start (and on its reconcile schedule), and refuses to start when
// another server is running on the store and either keeps volumes in a directory the operator did not
// declare shared (`BULKHEAD_VOLUME_DIR_SHARED=true`); volumes on S3 (`BULKHEAD_STORAGE=s3`) are shared by
// their nature and recorded as `s3://bucket/prefix@endpoint`. The embedded store belongs to one process: no check.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  recordServerSeen,
  recordServerStart,
  removeServer,
  type ServerRecord,
} from '../store/repositories/servers.js';
import type { Store } from '../store/store.js';

/** A server's place among the servers of its store: renewed until `leave()`. */
export interface Membership {
  leave(): Promise<void>;
}

export interface JoinOptions {
  readonly volumeDir: string;
  readonly volumeDirShared: boolean;
  /** How often the server says it is still running; a server unseen for three of these no longer counts. */
  readonly everyMs: number;
  /** The host name recorded (tests name several servers of one machine); the machine's by default. */
  readonly host?: string;
}

/** Thrown when the server may not run beside the servers already on the store. */
export class VolumeDirNotShared extends Error {}

/** Records this server on the store, or refuses when a server beside it would not reach its volumes. */
export async function joinStore(store: Store, options: JoinOptions): Promise<Membership> {
  if (store.kind === 'pglite') return { leave: () => Promise.resolve() };
  const self: ServerRecord = {
    host: options.host ?? hostname(),
    volumeDir: options.volumeDir.startsWith('s3://') ? options.volumeDir : resolve(options.volumeDir),
    volumeDirShared: options.volumeDirShared,
  };
  const now = new Date();
  const others = await store.system('operator', (tx) =>
    recordServerStart(tx, self, now, new Date(now.getTime() - 3 * options.everyMs)),
  );
  const local = others.filter((o) => !o.volume_dir_shared);
  if (others.length > 0 && (!self.volumeDirShared || local.length > 0)) {
    await store.system('operator', (tx) => removeServer(tx, self)).catch(() => undefined);
    const other = local[0] ?? others[0]!;
    throw new VolumeDirNotShared(
      `Another server runs on this store (${other.host}, volumes in ${other.volume_dir}` +
        `${other.volume_dir_shared ? ', shared' : ', not declared shared'}). Servers that share a store must ` +
        `share the volume directory: mount one directory on every server and set ` +
        `BULKHEAD_VOLUME_DIR_SHARED=true on each, or run one server.`,
    );
  }
  const timer = setInterval(() => {
    store.system('operator', (tx) => recordServerSeen(tx, self, new Date())).catch(() => undefined);
  }, options.everyMs);
  timer.unref();
  return {
    async leave() {
      clearInterval(timer);
      await store.system('operator', (tx) => removeServer(tx, self)).catch(() => undefined);
    },
  };
}
