// A provisioning key is `bhk_` + 43 base62 characters (256 random bits) + `_` + a 6-character CRC32
// checksum of what precedes it. The prefix lets secret scanners find leaked keys; the checksum lets a
// mistyped or invented key be refused before any lookup. No I/O and no secrets are kept here.
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const keyPrefix = 'bhk_';
const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const bodyLength = 43;
const checksumLength = 6;
export const keyLength = keyPrefix.length + bodyLength + 1 + checksumLength;
const shape = new RegExp(`^${keyPrefix}[0-9A-Za-z]{${bodyLength}}_[0-9A-Za-z]{${checksumLength}}$`);

function toBase62(value: bigint, length: number): string {
  let out = '';
  let v = value;
  while (v > 0n) {
    out = base62[Number(v % 62n)]! + out;
    v /= 62n;
  }
  return out.padStart(length, '0');
}

function checksum(head: string): string {
  return toBase62(BigInt(crc32(head)), checksumLength);
}

/** A new random key. The caller shows it once and stores only its keyed hash. */
export function generateKey(): string {
  const body = toBase62(BigInt(`0x${randomBytes(32).toString('hex')}`), bodyLength);
  const head = `${keyPrefix}${body}`;
  return `${head}_${checksum(head)}`;
}

export type KeyShapeProblem = 'prefix' | 'length' | 'charset' | 'checksum';

/** Checks a presented key without any lookup; answers what is wrong with it, or null. */
export function checkKeyShape(candidate: string): KeyShapeProblem | null {
  if (!candidate.startsWith(keyPrefix)) return 'prefix';
  if (candidate.length !== keyLength) return 'length';
  if (!shape.test(candidate)) return 'charset';
  const head = candidate.slice(0, keyPrefix.length + bodyLength);
  const sum = candidate.slice(-checksumLength);
  return checksum(head) === sum ? null : 'checksum';
}

/** The non-secret part shown in listings: enough to tell keys apart, far too little to guess one. */
export function keyDisplayPrefix(key: string): string {
  return key.slice(0, keyPrefix.length + 8);
}
