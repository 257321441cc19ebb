// Settings: named values of the installation as a whole (the operator token's hash among them). They
// belong to no domain, so every function here takes a `SystemTx`.
import type { SystemTx } from '../store.js';

/** Stores `value` under `name` unless a value is there already; true when it stored it. */
export async function insertSettingIfAbsent(tx: SystemTx, name: string, value: string): Promise<boolean> {
  const inserted = await tx
    .insertInto('settings')
    .values({ name, value })
    .onConflict((oc) => oc.column('name').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** The value stored under `name`; throws when there is none. */
export async function setting(tx: SystemTx, name: string): Promise<string> {
  const row = await tx
    .selectFrom('settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  return row.value;
}

/** Stores `value` under `name`, replacing what was there. */
export async function saveSetting(tx: SystemTx, name: string, value: string): Promise<void> {
  await tx
    .insertInto('settings')
    .values({ name, value })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated_at: new Date() }))
    .execute();
}
