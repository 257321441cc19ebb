// Provisioning keys: issued, listed, revoked and rotated by the operator; a key's own view of itself.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { getKey } from './get-key.js';
import { issueKey } from './issue-key.js';
import { listKeys } from './list-keys.js';
import { revokeKey } from './revoke-key.js';
import { rotateKey } from './rotate-key.js';
import { whoami } from './whoami.js';

/** The routes of this feature, in the order they are registered, tagged `keys` in the OpenAPI document. */
export const keysPlugin = feature('keys', [issueKey, listKeys, getKey, revokeKey, rotateKey, whoami]);
