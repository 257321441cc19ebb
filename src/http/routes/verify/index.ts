// Isolation runs: a provider's probe, and the runs recorded.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { listVerifyRuns } from './list-runs.js';
import { providerProbe } from './provider-probe.js';

/** The routes of this feature, in the order they are registered, tagged `verify` in the OpenAPI document. */
export const verifyPlugin = feature('verify', [providerProbe, listVerifyRuns]);
