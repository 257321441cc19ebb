/** The kinds of resource a domain can provision; a provisioning key is scoped to some of them. */
export const resourceKinds = ['postgres', 'redis', 'rabbitmq', 'storage', 'kubernetes'] as const;
export type ResourceKind = (typeof resourceKinds)[number];

/** The kinds whose resources hold objects (the `objects` routes), so only they take a `:objects` scope. */
export const objectKinds: readonly ResourceKind[] = ['storage'];

/**
 * A domain's compute: its instances and volumes. They are not provisioned resources, but a provisioning
 * key is scoped to them the same way (`instances`, `volumes:read`, …).
 */
export const computeKinds = ['instances', 'volumes'] as const;
export type ComputeKind = (typeof computeKinds)[number];
