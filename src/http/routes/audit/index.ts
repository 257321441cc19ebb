// The audit log: its events, and the check of its hash chain.
// One encapsulated plugin: it inherits the root's authentication, policy and error handling
// (src/http/server.ts); what it adds stays inside it.
import { feature } from '../../feature.js';
import { listAuditEvents } from './list-audit.js';
import { verifyAuditChain } from './verify-audit.js';

/** The routes of this feature, in the order they are registered, tagged `audit` in the OpenAPI document. */
export const auditPlugin = feature('audit', [listAuditEvents, verifyAuditChain]);
