// A domain's users and service accounts, and their sessions.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { principalRoutes } from './principals.js';
import { revokeSession } from './sessions.js';

/** The routes of this feature, in the order they are registered, tagged `principals` in the OpenAPI document. */
export const principalsPlugin = feature('principals', [principalRoutes, revokeSession]);
