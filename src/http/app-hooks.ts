// The one seam the tests use to reach into every app built: kept apart from server.ts so a test file can
// add to it without loading the whole server (the unit suites never build an app).
import type { App } from './types.js';

/**
 * Called with every app built, after the root hooks and before its features: the tests add the check
 * that every answer is one the OpenAPI document declares (test/helpers/contract.ts). Empty otherwise.
 */
export const appHooks = new Set<(app: App) => void>();
