// A domain's pool: how much it may allocate. Operator overrides live in the pools table; anything not
// overridden falls back to the configured defaults. Every limit here is checked in the transaction that
// takes the allocation, with the domain's row locked, so requests in parallel cannot all fit in one gap.
import { resourceKinds, type ResourceKind } from './kinds.js';

export interface QuotaDefaults {
  /** Live resources per kind. */
  readonly resourcesPerKind: number;
  /** Bytes of objects across all of a domain's storage resources. */
  readonly storageBytes: number;
  /** Instances a domain may have at once. */
  readonly instances: number;
  /** Volumes a domain may have at once, counting those still being zeroed. */
  readonly volumes: number;
  /** Bytes of volumes a domain may have at once, counting those still being zeroed. */
  readonly volumeBytes: number;
}

/** The defaults when nothing is configured (the configuration's own defaults are the same). */
export const defaultQuotas: QuotaDefaults = Object.freeze({
  resourcesPerKind: 10,
  storageBytes: 1024 ** 3,
  instances: 50,
  volumes: 50,
  volumeBytes: 10 * 1024 ** 3,
});

export type Quotas = Readonly<
  Record<ResourceKind, number> & {
    storageBytes: number;
    instances: number;
    volumes: number;
    volumeBytes: number;
  }
>;

export const quotaNames = [...resourceKinds, 'storageBytes', 'instances', 'volumes', 'volumeBytes'] as const;

export function effectiveQuotas(
  defaults: QuotaDefaults,
  overrides: Readonly<Record<string, number>>,
): Quotas {
  const out: Record<string, number> = {};
  for (const kind of resourceKinds) out[kind] = overrides[kind] ?? defaults.resourcesPerKind;
  out['storageBytes'] = overrides['storageBytes'] ?? defaults.storageBytes;
  out['instances'] = overrides['instances'] ?? defaults.instances;
  out['volumes'] = overrides['volumes'] ?? defaults.volumes;
  out['volumeBytes'] = overrides['volumeBytes'] ?? defaults.volumeBytes;
  return out as Quotas;
}
