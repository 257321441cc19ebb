// A domain's pool: how much it may allocate. Operator overrides live in the pools table; anything not
// overridden falls back to the configured defaults.
import { resourceKinds, type ResourceKind } from '../domain/kinds.js';

export interface QuotaDefaults {
  /** Live resources per kind. */
  readonly resourcesPerKind: number;
  /** Bytes of objects across all of a domain's storage resources. */
  readonly storageBytes: number;
}

export type Quotas = Readonly<Record<ResourceKind, number> & { storageBytes: number }>;

export const quotaNames = [...resourceKinds, 'storageBytes'] as const;

export function effectiveQuotas(
  defaults: QuotaDefaults,
  overrides: Readonly<Record<string, number>>,
): Quotas {
  const out: Record<string, number> = {};
  for (const kind of resourceKinds) out[kind] = overrides[kind] ?? defaults.resourcesPerKind;
  out['storageBytes'] = overrides['storageBytes'] ?? defaults.storageBytes;
  return out as Quotas;
}
