// A change to one item, made under that item's lock (the HTTP layer's If-Match: src/http/plugins/
// preconditions.ts). On PostgreSQL the first transaction the change opens takes a transaction-scoped
// advisory lock on the item's key, which every other guarded change of the item takes too, and then
// runs the guard's check (the If-Match comparison) with the lock held: between the check and the commit
// no other guarded change of the item can run, on this server or another. PGlite runs one transaction
// at a time in one process, where the HTTP layer's lock per item already serialises the changes.
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type Kysely } from 'kysely';

export interface ItemGuard {
  /** Names the item: the changes of one item share it. */
  readonly key: string;
  /** Throws when the item is no longer the one the client saw; runs outside the guard (its own reads). */
  readonly check: () => Promise<void>;
}

interface Held {
  readonly guard: ItemGuard;
  /** Set once a transaction of the change that passed the check has written. */
  checked: boolean;
  /** Transactions of the change open now: one nested in another (or beside it) does not lock again. */
  open: number;
}

const held = new AsyncLocalStorage<Held>();

/** Runs `fn` (a change to one item) with `guard` applied to the transactions it opens. */
export function underGuard<T>(guard: ItemGuard, fn: () => Promise<T>): Promise<T> {
  return held.run({ guard, checked: false, open: 0 }, fn);
}

/** True when a transaction opened now would lock: the one-message paths take the transaction path then. */
export function guarded(): boolean {
  return held.getStore() !== undefined;
}

/** What the store calls of the guard around one transaction. */
export interface GuardedTransaction {
  /** Before COMMIT: notes whether this transaction wrote, which ends the checking. */
  readonly beforeCommit: () => Promise<void>;
  /** When the transaction has ended, committed or not. */
  readonly leave: () => void;
}

const unguarded: GuardedTransaction = { beforeCommit: async () => {}, leave: () => {} };

/**
 * In a transaction just begun on `conn` (PostgreSQL): takes the item's lock and, until a transaction of the
 * change has written, checks with it held. A change that reads in one transaction and writes in the next
 * is checked in both: the lock is released between them, and the write's check is the one that counts.
 */
export async function enterGuard(conn: Kysely<never>): Promise<GuardedTransaction> {
  const state = held.getStore();
  if (state === undefined) return unguarded;
  state.open += 1;
  const leave = () => {
    state.open -= 1;
  };
  const beforeCommit = async () => {
    if (state.checked) return;
    // A transaction id is assigned at the first write: after one, the item differs from the ETag by
    // this change's own doing, and later transactions of the change only lock.
    const { rows } = await sql<{ xid: string | null }>`SELECT txid_current_if_assigned() AS xid`.execute(
      conn,
    );
    if (rows[0]?.xid !== null && rows[0]?.xid !== undefined) state.checked = true;
  };
  try {
    // Nested in (or beside) another of the change's transactions, which holds the lock: not again.
    if (state.open === 1) {
      await lock(conn, state.guard.key);
      if (!state.checked) await held.exit(() => state.guard.check());
    }
  } catch (error) {
    leave();
    throw error;
  }
  return { beforeCommit, leave };
}
async function lock(conn: Kysely<never>, key: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(conn);
}
