// A domain's instances and the volumes attached to them.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { instanceRoutes } from './instances.js';
import { volumeRoutes } from './volumes.js';

/** The routes of this feature, in the order they are registered, tagged `compute` in the OpenAPI document. */
export const computePlugin = feature('compute', [instanceRoutes, volumeRoutes]);
