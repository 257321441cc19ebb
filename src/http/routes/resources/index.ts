// A domain's resources: provisioned, read, their credentials read and rotated, deleted; the
// domain's pool; blueprints.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { blueprintRoutes } from './blueprints.js';
import { createResource } from './create-resource.js';
import { deleteResource } from './delete-resource.js';
import { getCredentials } from './get-credentials.js';
import { getResource } from './get-resource.js';
import { listResources } from './list-resources.js';
import { pool } from './pool.js';
import { rotateCredentials } from './rotate-credentials.js';

/** The routes of this feature, in the order they are registered, tagged `resources` in the OpenAPI document. */
export const resourcesPlugin = feature('resources', [
  createResource,
  listResources,
  getResource,
  getCredentials,
  rotateCredentials,
  deleteResource,
  pool,
  blueprintRoutes,
]);
