/** The kinds of resource a domain can provision; a provisioning key is scoped to some of them. */
export const resourceKinds = ['postgres', 'redis', 'rabbitmq', 'storage', 'kubernetes'] as const;
export type ResourceKind = (typeof resourceKinds)[number];

/** The kinds whose resources hold objects (the `objects` routes), so only they take a `:objects` scope. */
export const objectKinds: readonly ResourceKind[] = ['storage'];
