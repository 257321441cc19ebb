// What the suites of the process memories that change notices empty (verified tokens, the domains of
// verified keys) share: the two ways processes hold the notice key, two processes on one fresh database,
// a wait for a condition, and the database's listening connections, to cut them off.
import pg from 'pg';
import { buildServices, type Services } from '../../src/runtime.js';
import { deriveNoticeKey } from '../../src/store/notices.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTestDatabase, testSecret } from './backends.js';

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every 10 ms; throws after `ms`. */
export async function until(condition: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await pause(10);
  }
}

// As the server runs (every process derives the notice key from the secret they share), and with a key
// of each process's own, where the other process's notices arrive bare.
export const noticeKeySetups = [
  { keys: 'with the notice key they share', noticeKey: deriveNoticeKey(testSecret) },
  { keys: 'each with a notice key of its own', noticeKey: undefined },
] as const;

/** The server processes of the database `admin` is connected to that are listening for notifications. */
export const listenerPids = (admin: pg.Client): Promise<number[]> =>
  admin
    .query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
    )
    .then((r) => r.rows.map((row) => row.pid));

export interface TwoProcesses {
  readonly database: { url: string; drop(): Promise<void> };
  readonly stores: [Store, Store];
  readonly one: Services;
  readonly two: Services;
  /** A connection of the database's owner, beside the processes. */
  readonly admin: pg.Client;
  readonly close: () => Promise<void>;
}

/** The services of two processes on one fresh PostgreSQL database, each with a store of its own. */
export async function openTwoProcesses(noticeKey: Buffer | undefined): Promise<TwoProcesses> {
  const database = await createTestDatabase();
  const options = {
    kind: 'postgres',
    url: database.url,
    ...(noticeKey === undefined ? {} : { noticeKey }),
  } as const;
  const stores: [Store, Store] = [await openStore(options), await openStore(options)];
  const [one, two] = stores.map((store) =>
    buildServices(store, testSecret, { providers: new Map(), slugQuarantineMs: 0 }),
  ) as [Services, Services];
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  return {
    database,
    stores,
    one,
    two,
    admin,
    close: async () => {
      await admin.end();
      await Promise.allSettled([one.close(), two.close()]);
      await database.drop();
    },
  };
}
