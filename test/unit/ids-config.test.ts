import { describe, expect, it } from 'vitest';
import { ConfigError, decodeSecret, loadConfig } from '../../src/config.js';
import { isId, newId } from '../../src/domain/ids.js';
import { storeOptions } from '../../src/runtime.js';

describe('ids', () => {
  it('are prefixed, well-formed and sort by creation time', () => {
    const a = newId('domain', 1_000);
    const b = newId('domain', 2_000);
    expect(isId('domain', a)).toBe(true);
    expect(isId('key', a)).toBe(false);
    expect(a < b).toBe(true);
    expect(isId('domain', 'dom_../../etc/passwd')).toBe(false);
    expect(isId('domain', `${a}x`)).toBe(false);
  });
});

describe('loadConfig', () => {
  it('uses defaults, then the environment, then flags', () => {
    expect(loadConfig({})).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: '.bulkhead' });
    expect(loadConfig({ BULKHEAD_PORT: '9000' }).port).toBe(9000);
    expect(loadConfig({ BULKHEAD_PORT: '9000' }, { port: '9001' }).port).toBe(9001);
    expect(loadConfig({ BULKHEAD_PORT: '' }).port).toBe(8080);
  });

  it('stops on a bad value with one line naming the variable', () => {
    expect(() => loadConfig({ BULKHEAD_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ BULKHEAD_PORT: 'eighty' })).toThrow(/^invalid configuration: BULKHEAD_PORT /);
    expect(() => loadConfig({ BULKHEAD_DATABASE_URL: 'mysql://x' })).toThrow(/BULKHEAD_DATABASE_URL/);
    expect(() => loadConfig({ BULKHEAD_OPERATOR_TOKEN: 'short' })).toThrow(/BULKHEAD_OPERATOR_TOKEN/);
    expect(() => loadConfig({ BULKHEAD_LOG_LEVEL: 'loud' })).toThrow(/BULKHEAD_LOG_LEVEL/);
    expect(() => loadConfig({ BULKHEAD_METRICS_TOKEN: 'short' })).toThrow(
      /^invalid configuration: BULKHEAD_METRICS_TOKEN must be at least 32 characters$/,
    );
    for (const every of ['1', 'hourly', '0s', '8d'])
      expect(() => loadConfig({ BULKHEAD_VERIFY_EVERY: every }), every).toThrow(
        /^invalid configuration: BULKHEAD_VERIFY_EVERY must be a duration from 1s to 7d, e\.g\. 30s, 15m, 1h$/,
      );
  });

  it('reads the verification interval as milliseconds, from the environment or the flag', () => {
    expect(loadConfig({}).verifyEvery).toBeUndefined();
    expect(loadConfig({ BULKHEAD_VERIFY_EVERY: '15m' }).verifyEvery).toBe(900_000);
    expect(loadConfig({ BULKHEAD_VERIFY_EVERY: '15m' }, { verifyEvery: '1h30m' }).verifyEvery).toBe(
      5_400_000,
    );
  });

  it('reads the store pool size and its session URL, and names a bad one', () => {
    expect(loadConfig({}).databasePoolSize).toBe(10);
    expect(loadConfig({ BULKHEAD_DATABASE_POOL_SIZE: '3' }).databasePoolSize).toBe(3);
    for (const size of ['0', '-1', '2.5', 'many'])
      expect(() => loadConfig({ BULKHEAD_DATABASE_POOL_SIZE: size }), size).toThrow(
        /^invalid configuration: BULKHEAD_DATABASE_POOL_SIZE /,
      );
    expect(loadConfig({ BULKHEAD_DATABASE_SESSION_URL: 'postgres://db/x' }).databaseSessionUrl).toBe(
      'postgres://db/x',
    );
    expect(() => loadConfig({ BULKHEAD_DATABASE_SESSION_URL: 'http://db' })).toThrow(
      /^invalid configuration: BULKHEAD_DATABASE_SESSION_URL must be a postgres:\/\/ URL$/,
    );
    // The system context's own login, handed to the store as its system pool's URL.
    const separated = loadConfig({
      BULKHEAD_DATABASE_URL: 'postgres://app@db/x',
      BULKHEAD_DATABASE_SYSTEM_URL: 'postgres://system@db/x',
    });
    expect(storeOptions(separated)).toMatchObject({
      kind: 'postgres',
      url: 'postgres://app@db/x',
      systemUrl: 'postgres://system@db/x',
    });
    expect(storeOptions(loadConfig({ BULKHEAD_DATABASE_URL: 'postgres://db/x' }))).not.toHaveProperty(
      'systemUrl',
    );
    expect(() => loadConfig({ BULKHEAD_DATABASE_SYSTEM_URL: 'http://db' })).toThrow(
      /^invalid configuration: BULKHEAD_DATABASE_SYSTEM_URL must be a postgres:\/\/ URL$/,
    );
  });

  it("reads the revocation feed key's version, a positive integer", () => {
    expect(loadConfig({}).feedKeyVersion).toBe(1);
    expect(loadConfig({ BULKHEAD_FEED_KEY_VERSION: '3' }).feedKeyVersion).toBe(3);
    for (const version of ['0', '-1', '1.5', 'two'])
      expect(() => loadConfig({ BULKHEAD_FEED_KEY_VERSION: version }), version).toThrow(
        /^invalid configuration: BULKHEAD_FEED_KEY_VERSION /,
      );
  });

  it('is frozen', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('decodes hex secrets as bytes and others as text', () => {
    expect(decodeSecret('ab'.repeat(32))).toHaveLength(32);
    expect(decodeSecret('x'.repeat(40))).toHaveLength(40);
  });
});
