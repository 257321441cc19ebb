/**
 * Bulkhead as a library: build the control-plane server on your own store, or use its services directly.
 *
 * @example
 * import { loadConfig, openServices, buildServer } from 'bulkhead';
 *
 * const services = await openServices(loadConfig(process.env));
 * await services.operator.initialise(process.env.BULKHEAD_OPERATOR_TOKEN);
 * const app = await buildServer(services, { onClose: () => services.close() });
 * await app.listen({ port: 8080 });
 */
export { loadConfig, ConfigError, type Config } from './config.js';
export { BulkheadError, errorStatus, type ErrorCode, type ErrorDetail } from './errors.js';
export { openServices, buildServices, type Services } from './runtime.js';
export { openStore, DataDirLockedError, type Store, type StoreOptions } from './store/store.js';
export { buildServer, type ServerOptions } from './http/server.js';
export { startServer } from './runtime/serve.js';
export { verifyAudit, listAudit, type AuditFilter } from './audit/log.js';
export type { ChainReport } from './audit/chain.js';
export type { AuditEvent, AuditAction } from './audit/events.js';
export { checkKeyShape } from './keys/format.js';
export type { KeyView, IssuedKey } from './keys/service.js';
export type { DomainView } from './services/domains.js';
export { parseSlug } from './domain/slug.js';
export type { Principal } from './policy/principal.js';
