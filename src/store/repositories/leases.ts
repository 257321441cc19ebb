// The one rule for the leases workers take on rows they finish in the background (the reconciler on a
// resource or a blueprint a crash left half done, the zeroing worker on a deleted volume): a lease is free
// when nobody took it or it ran out, so a worker that died holding one never blocks the row for good.
import type { ExpressionBuilder } from 'kysely';
import type { Database } from '../schema.js';

/** The tables whose rows carry a worker's lease (`lease_until`). */
type Leased = 'resources' | 'volumes' | 'blueprints';

/** A `where` for rows whose lease is free at `now`: never taken, or run out. */
export function leaseFree(now: Date) {
  return (eb: ExpressionBuilder<Database, Leased>) =>
    eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]);
}
