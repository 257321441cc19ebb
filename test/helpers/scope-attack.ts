// A key of the resource's own domain that is not scoped for its kind, sent at a real resource: its
// credentials, their rotation and its deletion are refused (403 `scope_denied`), and the backend is left
// exactly as it was — the original credentials still open it and its data is still there. Then keys
// scoped for one action on the kind (`kind:action`) do that action and nothing else.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { operatorToken, type Call } from './api.js';

export interface ScopeAttack {
  readonly call: Call;
  readonly domainId: string;
  readonly resourceId: string;
  readonly kind: string;
  /** The resource's password (or token), which must not appear in any refused answer. */
  readonly secret: string;
  /** Asserts that the original credentials still open the resource and its data is still there. */
  readonly intact: () => Promise<void>;
}

export async function attackWithOtherKindKey(o: ScopeAttack): Promise<void> {
  const issue = async (scopes: string[]) => {
    const res = await o.call('POST', `/v1/domains/${o.domainId}/keys`, {
      token: operatorToken,
      body: { scopes },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ key: string }>().key;
  };
  const r = `/v1/domains/${o.domainId}/resources/${o.resourceId}`;
  const refused = (res: LightMyRequestResponse) => {
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('scope_denied');
    expect(res.body).not.toContain(o.secret);
  };

  const storageOnly = await issue(['storage']);
  refused(await o.call('GET', `${r}/credentials`, { token: storageOnly }));
  refused(await o.call('POST', `${r}/credentials/rotate`, { token: storageOnly }));
  await o.intact();
  refused(await o.call('DELETE', r, { token: storageOnly }));
  refused(await o.call('GET', r, { token: storageOnly }));
  const listed = await o.call('GET', `/v1/domains/${o.domainId}/resources`, { token: storageOnly });
  expect(listed.statusCode).toBe(200);
  expect(listed.body).not.toContain(o.resourceId);
  await o.intact();

  // One action on the kind allows that action only.
  const reader = await issue([`${o.kind}:read`]);
  expect((await o.call('GET', r, { token: reader })).json()).toMatchObject({
    id: o.resourceId,
    status: 'ready',
  });
  refused(await o.call('GET', `${r}/credentials`, { token: reader }));
  refused(await o.call('DELETE', r, { token: reader }));
  const credentials = await issue([`${o.kind}:credentials`]);
  const read = await o.call('GET', `${r}/credentials`, { token: credentials });
  expect(read.statusCode, read.body).toBe(200);
  expect(read.body).toContain(o.secret);
  refused(await o.call('POST', `${r}/credentials/rotate`, { token: credentials }));
  await o.intact();
  const deleter = await issue([`${o.kind}:delete`]);
  const deleted = await o.call('DELETE', r, { token: deleter });
  expect(deleted.statusCode, deleted.body).toBe(200);
  expect(deleted.json()).toMatchObject({ status: 'deleted' });
}
