// The proxies whose forwarded headers (X-Forwarded-For, -Host, -Proto) are believed: a list of
// addresses and CIDR ranges, parsed strictly so that a typo is a refusal to start rather than a proxy
// trusted by accident (or one silently not trusted).
import { isIP } from 'node:net';

/** Parses `10.0.0.1, 10.1.0.0/16, ::1`: each entry an IPv4 or IPv6 address, or one with a prefix length. */
export function parseTrustedProxies(text: string): string[] | null {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) return null;
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const version = isIP(address ?? '');
    if (version === 0 || rest.length > 0) return null;
    if (prefix !== undefined) {
      if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128)) return null;
    }
  }
  return entries;
}
