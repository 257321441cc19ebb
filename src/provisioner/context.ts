// What every part of the provisioner is handed: the store, the keyring, where each kind is placed, the
// quota defaults and the lease. Only the facade (`provisioner.ts`) builds it.
import type { Keyring } from '../crypto/keyring.js';
import type { Store } from '../store/store.js';
import type { Failpoint } from '../domain/failpoints.js';
import type { Placement } from './placement.js';
import type { QuotaDefaults } from '../domain/quotas.js';

export interface ProvisionerContext {
  readonly store: Store;
  readonly keyring: Keyring;
  readonly placement: Placement;
  readonly quotas: QuotaDefaults;
  /** How long one process may hold a resource while it talks to the backend. */
  readonly leaseMs: number;
  /** Kills the process here when the test hook names this point; nothing otherwise. */
  readonly crashAt: (point: Failpoint) => void;
  /** Waits here (twice the lease) when the test hook names this point; resolves at once otherwise. */
  readonly slowAt: (point: Failpoint) => Promise<void>;
}

/** The keyring purpose a resource's credentials are sealed under. */
export const credentialsPurpose = (resourceId: string) => `credentials:${resourceId}`;
