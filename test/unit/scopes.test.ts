// What a key's scopes allow, and what is accepted when a key is issued: a plain kind keeps its old
// meaning (every action on the kind), `kind:action` allows that action only, nothing else is accepted.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resourceKinds } from '../../src/domain/kinds.js';
import { allows, kindCheck, normaliseScopes, scopeActions, validScopes } from '../../src/policy/scopes.js';
import type { Principal } from '../../src/policy/principal.js';

const key = (scopes: string[]): Principal => ({
  kind: 'provisioning_key',
  actor: 'key:key_x',
  domainId: 'dom_x',
  domainSlug: 'x',
  keyId: 'key_x',
  scopes: normaliseScopes(scopes),
});

describe('key scopes', () => {
  it('lets a plain kind do every action on that kind and nothing on another', () => {
    for (const action of scopeActions) {
      expect(allows(['postgres'], 'postgres', action)).toBe(true);
      expect(allows(['postgres'], 'redis', action)).toBe(false);
    }
  });

  it('lets kind:action do exactly that action on exactly that kind', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...resourceKinds),
        fc.constantFrom(...scopeActions),
        fc.constantFrom(...resourceKinds),
        fc.constantFrom(...scopeActions),
        (kind, action, askedKind, askedAction) => {
          expect(allows([`${kind}:${action}`], askedKind, askedAction)).toBe(
            kind === askedKind && action === askedAction,
          );
        },
      ),
    );
  });

  it('refuses a key without the scope with scope_denied, and passes every other credential', () => {
    expect(() => kindCheck(key(['storage']), 'credentials')('postgres')).toThrow(
      expect.objectContaining({ code: 'scope_denied' }),
    );
    expect(() => kindCheck(key(['postgres:read']), 'delete')('postgres')).toThrow(
      expect.objectContaining({ code: 'scope_denied' }),
    );
    expect(() => kindCheck(key(['postgres:delete']), 'delete')('postgres')).not.toThrow();
    expect(() => kindCheck({ kind: 'operator', actor: 'operator' }, 'delete')('postgres')).not.toThrow();
    expect(() => kindCheck(null, 'delete')('postgres')).not.toThrow();
  });

  it('issues every kind by default, keeps existing plain kinds as they are, and folds actions into their kind', () => {
    expect(normaliseScopes(undefined)).toEqual([...resourceKinds, 'instances', 'volumes']);
    expect(normaliseScopes(['storage', 'postgres'])).toEqual(['postgres', 'storage']);
    expect(normaliseScopes(['redis:read', 'redis', 'postgres:read', 'postgres:read'])).toEqual([
      'redis',
      'postgres:read',
    ]);
    expect(validScopes).toContain('storage:objects');
    expect(validScopes).toContain('volumes:attach');
    expect(normaliseScopes(['volumes:read', 'volumes', 'instances:create'])).toEqual([
      'volumes',
      'instances:create',
    ]);
  });

  it('refuses an empty list, an unknown kind or action, and objects on a kind that holds none', () => {
    for (const bad of [
      [],
      ['mainframe'],
      ['postgres:write'],
      ['postgres:objects'],
      ['postgres:'],
      [':read'],
      ['postgres:attach'],
      ['instances:attach'],
      ['volumes:credentials'],
      ['instances:objects'],
    ])
      expect(() => normaliseScopes(bad)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });
});
