import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { enterScope, sealScope } from '../../src/store/scope.js';

const key = randomBytes(32);
const a = 'dom_01hzy0000000000000000000aa';
const b = 'dom_01hzy0000000000000000000bb';
const zeros = '0'.repeat(64);

describe('sealScope', () => {
  it('signs the whole message, its MAC written as zeros, as scope_enter recomputes it', () => {
    const unsigned = `BEGIN; SET LOCAL ROLE bulkhead_app; ${enterScope(a)}; SELECT 1`;
    const sealed = sealScope(key, unsigned);
    const mac = createHmac('sha256', key).update(unsigned).digest('hex');
    expect(sealed).toBe(unsigned.replace(`${a}.${zeros}`, `${a}.${mac}`));
    // What scope_enter does: the token put back to zeros gives the text that was signed.
    expect(sealed.replace(`${a}.${mac}`, `${a}.${zeros}`)).toBe(unsigned);
    // Any other text gets another MAC.
    expect(sealScope(key, `${unsigned} `)).not.toContain(mac);
  });

  it("signs only the message's own scope, never an entry that a query put after it", () => {
    const later = `SET LOCAL ROLE bulkhead_app; ${enterScope(a)}; SELECT '${enterScope(b).replaceAll("'", "''")}'`;
    const sealed = sealScope(key, later);
    expect(sealed).not.toContain(`${a}.${zeros}`);
    expect(sealed).toContain(`${b}.${zeros}`);
    // The system context's message opens no domain: nothing in it is signed, whatever its queries hold.
    for (const system of [
      `SET LOCAL ROLE bulkhead_system; SET LOCAL bulkhead.domain_id = ''; ${enterScope(b)}`,
      'SELECT 1',
    ]) {
      expect(sealScope(key, system)).toBe(system);
    }
  });
});
