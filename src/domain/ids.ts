// Identifiers are a type prefix and 26 Crockford base32 characters: 48 bits of time then 80 random
// bits, so they sort by creation and cannot be guessed. Nothing here does I/O.
import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export const idPrefixes = {
  domain: 'dom',
  key: 'key',
  event: 'evt',
  resource: 'res',
  principal: 'prn',
  session: 'ses',
  instance: 'ins',
  volume: 'vol',
  grant: 'grt',
  blueprint: 'bpr',
  verifyRun: 'vrn',
  invoice: 'inv',
  oauthClient: 'ocl',
} as const;

export type IdKind = keyof typeof idPrefixes;

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = alphabet[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = alphabet[Number(bits & 31n)]! + out;
    bits >>= 5n;
  }
  return out;
}

export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${idPrefixes[kind]}_${encodeTime(now)}${encodeRandom(randomBytes(10))}`;
}

const idPattern = (kind: IdKind) => new RegExp(`^${idPrefixes[kind]}_[0-9a-hjkmnp-tv-z]{26}$`);
const patterns = Object.fromEntries(
  (Object.keys(idPrefixes) as IdKind[]).map((k) => [k, idPattern(k)]),
) as Record<IdKind, RegExp>;

export function isId(kind: IdKind, value: string): boolean {
  return patterns[kind].test(value);
}

/** The JSON schema pattern of an id, for route schemas. */
export function idSchemaPattern(kind: IdKind): string {
  return patterns[kind].source;
}
