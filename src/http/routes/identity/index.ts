// Each domain's signing keys and the key set that verifies its tokens.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { jwks } from './jwks.js';
import { signingKeyRoutes } from './signing-keys.js';

/** The routes of this feature, in the order they are registered, tagged `identity` in the OpenAPI document. */
export const identityPlugin = feature('identity', [jwks, signingKeyRoutes]);
