// A portal host names one domain, so two spellings of one host must be one host: hosts are compared in
// their normal form — IDNA (punycode for non-ASCII labels, via the WHATWG URL parser), lowercase, without
// a trailing dot. Only DNS names of two labels or more are portal hosts: an IP address, `localhost` or a
// host with a port never names a domain. No I/O here.
import { domainToASCII } from 'node:url';
import { BulkheadError } from '../errors.js';

const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The normal form of a host, or null when it is not a DNS name a portal can be served at.
 *
 * @example
 * normaliseHost('Portal.Example.COM.') // 'portal.example.com'
 * normaliseHost('bücher.example')      // 'xn--bcher-kva.example'
 * normaliseHost('127.0.0.1')           // null
 */
export function normaliseHost(input: string): string | null {
  const trimmed = input.trim();
  if (trimmed === '' || trimmed.length > 300 || /[\s/:@?#[\]\\%]/.test(trimmed)) return null;
  const ascii = domainToASCII(trimmed.replace(/\.$/, ''));
  if (ascii === '' || ascii.length > 253) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => label.test(l))) return null;
  // A top-level label of digits only is an IPv4 address (or part of one), not a name.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return null;
  return ascii;
}

/** The normal form of a host the operator gives, or `invalid_host`. */
export function parseHost(input: string): string {
  const host = normaliseHost(input);
  if (host === null)
    throw new BulkheadError(
      'invalid_host',
      `${JSON.stringify(input.slice(0, 100))} is not a DNS name of two labels or more.`,
    );
  return host;
}

/**
 * The host a request asked for, in normal form without its port, or null. `host` is what the HTTP layer
 * read (the Host header, or X-Forwarded-Host from a trusted proxy only).
 */
export function requestHost(host: string): string | null {
  // A bracketed IPv6 literal is never a portal host; otherwise the port is what follows the last colon.
  if (host.startsWith('[')) return null;
  const colon = host.lastIndexOf(':');
  const name = colon < 0 ? host : host.slice(0, colon);
  if (colon >= 0 && !/^[0-9]{1,5}$/.test(host.slice(colon + 1))) return null;
  return normaliseHost(name);
}

/**
 * The control plane's own host, from its public URL (BULKHEAD_PUBLIC_URL): lowercase, without port or
 * trailing dot; null without a public URL. The operator console is served there, and no domain may have
 * it as a portal host.
 */
export function consoleHostOf(publicUrl: string | undefined): string | null {
  if (publicUrl === undefined) return null;
  return new URL(publicUrl).hostname.toLowerCase().replace(/\.$/, '');
}
