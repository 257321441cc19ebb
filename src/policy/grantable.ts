// What a cross-domain grant can allow, on its own: the CLI checks `--action` against it as it parses,
// without loading the grants service and the store behind it.

/** What a grant can allow. Secrets (keys, credentials, principals, sessions) are never grantable. */
export const grantableActions = [
  'instances.read',
  'instances.write',
  'volumes.read',
  'volumes.write',
  'resources.read',
] as const;
export type GrantableAction = (typeof grantableActions)[number];
