// Every row of every table of the store, read as its owner in one statement, to show that a refused
// request changed nothing. Tables that record refusals themselves are left out when asked.
import { sql } from 'kysely';
import type { Store } from '../../src/store/store.js';
import { asOwner } from './backends.js';

export type StoreSnapshot = Record<string, string[]>;

export async function snapshotStore(
  store: Store,
  options: { except?: readonly string[] } = {},
): Promise<StoreSnapshot> {
  return asOwner(store, async (tx) => {
    const { rows: tables } = await sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(tx);
    const kept = tables.map((t) => t.name).filter((name) => options.except?.includes(name) !== true);
    const columns = kept.map(
      (name) =>
        sql`(SELECT coalesce(array_agg(t::text ORDER BY t::text), '{}') FROM ${sql.table(name)} t) AS ${sql.ref(name)}`,
    );
    const { rows } = await sql<StoreSnapshot>`SELECT ${sql.join(columns)}`.execute(tx);
    return rows[0]!;
  });
}
