/** The kinds of resource a domain can provision; a provisioning key is scoped to some of them. */
export const resourceKinds = ['postgres', 'redis', 'rabbitmq', 'storage', 'kubernetes'] as const;
export type ResourceKind = (typeof resourceKinds)[number];
