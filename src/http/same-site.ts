// Whether a request comes from a page of this very site. A browser sends cookies with cross-site
// requests too, and always names the page's origin in `Origin` on a cross-site POST, so every request
// that acts on a cookie or sets one must carry this site's Origin. A missing or `null` Origin is not
// this site's. The host is the request's only Host header (duplicates are refused before this runs), or,
// from a proxy named in BULKHEAD_TRUST_PROXY, the last X-Forwarded-Host it sent: a proxy that rewrites
// Host for its upstream says there what the browser asked for.
import type { FastifyRequest } from 'fastify';

export function fromThisSite(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  const host = request.host;
  if (origin === undefined || host === '') return false;
  try {
    const from = new URL(origin);
    // Compared as URLs so that a default port written out on one side still matches.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
