// Payloads of the store's notifications, sealed with an HMAC. Anyone who can connect to the database can
// send a NOTIFY on any channel (no privilege governs it; the migrations take CONNECT from PUBLIC, but a
// database someone else owns, or a role granted CONNECT by hand, stays open), so a listener acts on a
// payload only when it carries the store's mark; anything else is treated as a bare wake-up.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
export const maxNoticeBytes = 7999;

/** The notice key of every process sharing a store, derived from the server secret they share. */
export function deriveNoticeKey(serverSecret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'bulkhead store notices v1', 32));
}

/** A key for a store that no other process shares. */
export const randomNoticeKey = (): Buffer => randomBytes(32);

const mark = (key: Buffer, channel: string, payload: string) =>
  createHmac('sha256', key).update(`${channel}\n${payload}`).digest();

/** `payload` with its mark, or '' (a bare notice) when the two would not fit in one NOTIFY. */
export function sealNotice(key: Buffer, channel: string, payload: string): string {
  const sealed = `${mark(key, channel, payload).toString('base64url')}.${payload}`;
  return Buffer.byteLength(sealed) <= maxNoticeBytes ? sealed : '';
}

/** The payload of a sealed notice, or null for a bare, foreign or altered one. */
export function openNotice(key: Buffer, channel: string, message: string | undefined): string | null {
  const dot = message?.indexOf('.') ?? -1;
  if (message === undefined || dot < 0) return null;
  const payload = message.slice(dot + 1);
  const given = Buffer.from(message.slice(0, dot), 'base64url');
  const expected = mark(key, channel, payload);
  return given.length === expected.length && timingSafeEqual(given, expected) ? payload : null;
}
