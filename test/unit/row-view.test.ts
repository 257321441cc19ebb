// A stored row's view: the named columns only, in their order, camelCased or renamed, times as ISO strings.
import { describe, expect, it } from 'vitest';
import { rowView } from '../../src/store/views.js';

describe('rowView', () => {
  const row = {
    id: 'x',
    domain_id: 'd',
    secret_hash: 'never shown',
    post_logout_redirect_uris: ['https://a.example/'],
    created_at: new Date('2024-05-06T07:08:09.010Z'),
    revoked_at: null as Date | null,
  };

  it('shows the named columns in their order, camelCased, with times as ISO strings', () => {
    const view = rowView(row, ['revoked_at', 'id', 'post_logout_redirect_uris', 'created_at']);
    expect(JSON.stringify(view)).toBe(
      '{"revokedAt":null,"id":"x","postLogoutRedirectUris":["https://a.example/"],"createdAt":"2024-05-06T07:08:09.010Z"}',
    );
  });

  it('gives a renamed column its new name in its place', () => {
    expect(Object.entries(rowView(row, ['id', 'domain_id', 'created_at'], { domain_id: 'from' }))).toEqual([
      ['id', 'x'],
      ['from', 'd'],
      ['createdAt', '2024-05-06T07:08:09.010Z'],
    ]);
  });
});
