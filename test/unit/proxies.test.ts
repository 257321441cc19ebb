// BULKHEAD_TRUST_PROXY is read strictly: a list of addresses and CIDR ranges, or a refusal to start.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseTrustedProxies } from '../../src/util/proxies.js';

describe('trusted proxies', () => {
  it('reads addresses and CIDR ranges of both families', () => {
    expect(parseTrustedProxies('10.0.0.5, 10.1.0.0/16,::1 ,fd00::/8')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
    ]);
    expect(loadConfig({ BULKHEAD_TRUST_PROXY: '127.0.0.2' }).trustProxy).toEqual(['127.0.0.2']);
    expect(loadConfig({}).trustProxy).toBeUndefined();
  });

  it('refuses anything else rather than trusting by accident', () => {
    for (const text of [
      '',
      ' , ',
      'proxy.local',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.1/8/1',
      '10.0.0.1/x',
      '*',
    ]) {
      expect(parseTrustedProxies(text), text).toBeNull();
      // An empty variable is an unset one, as for every setting.
      if (text !== '') {
        expect(() => loadConfig({ BULKHEAD_TRUST_PROXY: text }), text).toThrow(/BULKHEAD_TRUST_PROXY/);
      }
    }
  });
});
