// Which methods a path has routes for, so that a known path asked with another method answers
// 405 Method Not Allowed with the `Allow` header (RFC 9110 §15.5.6) instead of 404. Only routes count:
// whether any item behind a path's parameters exists plays no part, so a 405 says nothing of any domain.

/** A route's URL (`/v1/domains/:domainId/keys`, `…/objects/*`) as a pattern of the paths it serves. */
function routePattern(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => {
      if (part === '*') return '.*';
      if (part.startsWith(':')) return '[^/]+';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/** The app's routes by pattern, filled as they are registered. */
export class MethodTable {
  readonly #routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();

  add(method: string, url: string): void {
    let entry = this.#routes.get(url);
    if (entry === undefined)
      this.#routes.set(url, (entry = { pattern: routePattern(url), methods: new Set() }));
    entry.methods.add(method.toUpperCase());
    // Fastify answers HEAD wherever it answers GET.
    if (method.toUpperCase() === 'GET') entry.methods.add('HEAD');
  }

  /** The methods some route takes for `path` (no query string), sorted; empty for an unknown path. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const { pattern, methods: ofRoute } of this.#routes.values()) {
      if (pattern.test(path)) for (const m of ofRoute) methods.add(m);
    }
    return [...methods].sort();
  }
}
