// The records of isolation runs: a system table (no domain's), so every function here takes a
// `SystemTx`. Ids sort by start, so the newest runs are the highest ids.
import type { NewVerifyRunRow, VerifyRunRow } from '../schema.js';
import type { SystemTx } from '../store.js';

/** Records a run. */
export async function insertVerifyRun(tx: SystemTx, run: NewVerifyRunRow): Promise<void> {
  await tx.insertInto('verify_runs').values(run).execute();
}

/** Removes every run but the newest `keep`. */
export async function pruneVerifyRuns(tx: SystemTx, keep: number): Promise<void> {
  await tx
    .deleteFrom('verify_runs')
    .where('id', 'in', (q) => q.selectFrom('verify_runs').select('id').orderBy('id', 'desc').offset(keep))
    .execute();
}

/** The newest runs first, at most `limit`; with `before` (a run id), those older than it. */
export function verifyRuns(
  tx: SystemTx,
  options: { readonly limit: number; readonly before?: string | undefined },
): Promise<VerifyRunRow[]> {
  let q = tx.selectFrom('verify_runs').selectAll();
  if (options.before !== undefined) q = q.where('id', '<', options.before);
  return q.orderBy('id', 'desc').limit(options.limit).execute();
}
