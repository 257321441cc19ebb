// Tokens and sessions obtained, and the revocation feed with its keys.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { revocationFeedKeys } from './revocation-feed-keys.js';
import { revocations } from './revocations.js';
import { token } from './token.js';

/** The routes of this feature, in the order they are registered, tagged `auth` in the OpenAPI document. */
export const authPlugin = feature('auth', [token, revocations, revocationFeedKeys]);
