// Health, readiness and the metrics scrape.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { health } from './health.js';
import { metrics } from './metrics.js';

/** The routes of this feature, in the order they are registered, tagged `system` in the OpenAPI document. */
export const systemPlugin = feature('system', [health, metrics]);
