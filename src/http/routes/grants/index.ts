// Grants: the one audited way for a domain to act in another.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { grantRoutes } from './grants.js';

/** The routes of this feature, in the order they are registered, tagged `grants` in the OpenAPI document. */
export const grantsPlugin = feature('grants', [grantRoutes]);
