// The audit log: its events, and the check of its hash chain.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import type { FeaturePlugin, RouteModule } from '../../types.js';
import { listAuditEvents } from './list-audit.js';
import { verifyAuditChain } from './verify-audit.js';

/** The routes of this feature, in the order they are registered. */
const routes: readonly RouteModule[] = [listAuditEvents, verifyAuditChain];

export const auditPlugin: FeaturePlugin = (app, { services }, done) => {
  for (const route of routes) route(app, services);
  done();
};
