// Objects in storage resources, streamed in and out.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { objects } from './objects.js';

/** The routes of this feature, in the order they are registered, tagged `objects` in the OpenAPI document. */
export const objectsPlugin = feature('objects', [objects]);
