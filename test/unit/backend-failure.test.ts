// What a failed backend call may tell a tenant: a provider's own code and words, a network failure with
// the address it was looked for at, or nothing of a driver's message; and whether anything can have been
// made there.
import { describe, expect, it } from 'vitest';
import { backendFailure } from '../../src/providers/failure.js';
import { ProviderError } from '../../src/providers/provider.js';

const backend = { type: 'postgres-server', location: '10.0.0.9:5433 (database mode)' };

function errno(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.9:5433`), { code });
}

describe('backendFailure', () => {
  it("passes a provider's refusal with its hint, as made before anything", () => {
    const failure = backendFailure(
      new ProviderError('postgres', 'unsafe_server', 'the server trusts logins', { hint: 'add a line' }),
      backend,
    );
    expect(failure).toEqual({
      reason: 'unsafe_server',
      message: 'the server trusts logins',
      hint: 'add a line',
      nothingMade: true,
    });
  });

  it('says where an unreachable backend was looked for, and whether a connection was ever made', () => {
    const refused = backendFailure(
      new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')]),
      backend,
    );
    expect(refused).toMatchObject({ reason: 'backend_unreachable', nothingMade: true });
    expect(refused.message).toBe(
      'postgres-server 10.0.0.9:5433 (database mode) did not answer (ECONNREFUSED)',
    );
    expect(refused.hint).toContain('BULKHEAD_POSTGRES_URL');
    const wrapped = backendFailure(new TypeError('fetch failed', { cause: errno('ENOTFOUND') }), backend);
    expect(wrapped).toMatchObject({ reason: 'backend_unreachable', nothingMade: true });
    // Cut off mid-way: something may have been made.
    expect(backendFailure(errno('ECONNRESET'), backend)).toMatchObject({
      reason: 'backend_unreachable',
      nothingMade: false,
    });
  });

  it("keeps a driver's own words out of the answer", () => {
    const failure = backendFailure(new Error('password authentication failed: hunter2'), backend);
    expect(failure).toMatchObject({ reason: 'backend_error', nothingMade: false });
    expect(JSON.stringify(failure)).not.toContain('hunter2');
  });
});
