// A key of the resource's own domain that is not scoped for its kind, sent at a real resource: its
// credentials, their rotation and its deletion are refused (403 `scope_denied`), and the backend is left
// exactly as it was — the original credentials still open it and its data is still there. Then keys
// scoped for one action on the kind (`kind:action`) do that action and nothing else.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { operatorToken } from './api.js';

type Call = (method: string, url: string, token: string, body?: object) => Promise<LightMyRequestResponse>;

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
    const res = await o.call('POST', `/v1/domains/${o.domainId}/keys`, operatorToken, { scopes });
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
  refused(await o.call('GET', `${r}/credentials`, storageOnly));
  refused(await o.call('POST', `${r}/credentials/rotate`, storageOnly));
  await o.intact();
  refused(await o.call('DELETE', r, storageOnly));
  refused(await o.call('GET', r, storageOnly));
  const listed = await o.call('GET', `/v1/domains/${o.domainId}/resources`, storageOnly);
  expect(listed.statusCode).toBe(200);
  expect(listed.body).not.toContain(o.resourceId);
  await o.intact();

  // One action on the kind allows that action only.
  const reader = await issue([`${o.kind}:read`]);
  expect((await o.call('GET', r, reader)).json()).toMatchObject({ id: o.resourceId, status: 'ready' });
  refused(await o.call('GET', `${r}/credentials`, reader));
  refused(await o.call('DELETE', r, reader));
  const credentials = await issue([`${o.kind}:credentials`]);
  const read = await o.call('GET', `${r}/credentials`, credentials);
  expect(read.statusCode, read.body).toBe(200);
  expect(read.body).toContain(o.secret);
  refused(await o.call('POST', `${r}/credentials/rotate`, credentials));
  await o.intact();
  const deleter = await issue([`${o.kind}:delete`]);
  const deleted = await o.call('DELETE', r, deleter);
  expect(deleted.statusCode, deleted.body).toBe(200);
  expect(deleted.json()).toMatchObject({ status: 'deleted' });
}
