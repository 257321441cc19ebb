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

/**
 * A domain's billing: the usage metered to it, its invoices, its payment methods and its billing details.
 * A key reaches them only when it was issued with these scopes by name (`usage:write` to record usage,
 * `usage:read`, `invoices:read`, `payments:read` to list payment methods, `payments:write` to add or remove
 * one, `billing:read` and `billing:write` for the billing details): a key issued without scopes holds the
 * resource and compute kinds only, as billing is not what it was made for.
 */
export const billingKinds = ['usage', 'invoices', 'payments', 'billing'] as const;
export type BillingKind = (typeof billingKinds)[number];
