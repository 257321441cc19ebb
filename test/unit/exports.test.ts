import { describe, expect, it } from 'vitest';
import * as bulkhead from '../../src/index.js';

describe('the package entry point', () => {
  it('exports the public API', () => {
    for (const name of [
      'loadConfig',
      'openServices',
      'openStore',
      'buildServer',
      'startServer',
      'verifyAudit',
      'checkKeyShape',
      'parseSlug',
      'BulkheadError',
    ]) {
      expect(typeof (bulkhead as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
