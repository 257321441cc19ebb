// Every row of every table of the store, read as its owner in one statement, to show that a refused
// request changed nothing. Tables that record refusals themselves (the audit log) and columns that move
// on any use of a credential (a key's last use) are left out when asked.
import { sql } from 'kysely';
import type { Store } from '../../src/store/store.js';
import { asOwner } from './backends.js';

export type StoreSnapshot = Record<string, string[]>;

export async function snapshotStore(
  store: Store,
  options: { exceptTables?: readonly string[]; exceptColumns?: readonly string[] } = {},
): Promise<StoreSnapshot> {
  return asOwner(store, async (tx) => {
    const { rows: tables } = await sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(tx);
    const kept = tables.map((t) => t.name).filter((name) => options.exceptTables?.includes(name) !== true);
    const dropped = sql`${sql.lit(`{${(options.exceptColumns ?? []).join(',')}}`)}::text[]`;
    const columns = kept.map(
      (name) =>
        sql`(SELECT coalesce(array_agg(r ORDER BY r), '{}') FROM (SELECT (to_jsonb(t) - ${dropped})::text AS r FROM ${sql.table(name)} t) rows) AS ${sql.ref(name)}`,
    );
    const { rows } = await sql<StoreSnapshot>`SELECT ${sql.join(columns)}`.execute(tx);
    return rows[0]!;
  });
}
