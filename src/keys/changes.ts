// Changes that can make a domain's keys unusable — a key revoked or rotated, the domain suspended or
// deleted — announced to every process when they commit, so what a process remembers about keys
// (`KeyService.knownDomain`) never outlives them.
import { randomUUID } from 'node:crypto';
import { noticeObject } from '../store/notice-watch.js';
import type { Store, Tx } from '../store/store.js';

/** The channel a committed key change is announced on. */
export const keyChangeChannel = 'bulkhead_key_changes';

/** One announced change: a fresh id (so a notice replayed is heard once) and the domain it touched. */
export interface KeyChange {
  readonly id: string;
  readonly domainId: string;
}

/** Announces, if and when `tx` commits, that keys of `domainId` may have become unusable. */
export async function announceKeyChange(
  store: Pick<Store, 'notify'>,
  tx: Tx,
  domainId: string,
): Promise<void> {
  const change: KeyChange = { id: randomUUID(), domainId };
  await store.notify(tx, keyChangeChannel, JSON.stringify(change));
}

/** The change a notice carries, or null when it carries none that is well formed. */
export function keyChangeFromNotice(payload: string | null): KeyChange | null {
  const value = noticeObject(payload);
  if (value === null) return null;
  const { id, domainId } = value;
  return typeof id === 'string' && typeof domainId === 'string' ? { id, domainId } : null;
}
