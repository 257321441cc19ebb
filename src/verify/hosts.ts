// Cookie sessions across per-tenant hosts. A site that serves each tenant at its own host (Bulkhead's
// portal: `portal.a.example`, `portal.b.example`) must bind a session to the host it was opened at: A's
// cookie, copied to B's host by hand, a browser extension or a shared proxy, must get exactly what no
// cookie gets there — the same status, the same redirect, nothing of A in the answer, nothing changed.
// And a change made with A's cookie at A's own host from a third site's page must be refused. Each
// route is one operation of the report, `page:<METHOD> <path>`, with one check per attack.
import { markersIn } from './compare.js';
import type { Exchange, OutgoingRequest, Send } from './http.js';
import { coverageOf, type Check, type OperationResult, type Verdict } from './report.js';
import type { CookieRoute, HostSetup } from './target.js';

/** The Origin of the third site that every cross-site form comes from. */
export const thirdOrigin = 'https://bulkhead-verify.invalid';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export interface HostAttackInput {
  readonly hosts: HostSetup;
  readonly send: Send;
  /** Ids of A's and B's things, and unknown ones, by parameter name (to fill a route's path). */
  readonly aIds: Readonly<Record<string, string>>;
  readonly bIds: Readonly<Record<string, string>>;
  readonly unknownIds: Readonly<Record<string, string>>;
  readonly aId: string;
  readonly concurrency: number;
  /** Attack kinds left out (`cross-host`, `csrf`). */
  readonly omit: ReadonlySet<string>;
}

/** The report's name of a route: `page:GET /resources/{resourceId}`. */
export function routeOperation(route: CookieRoute): string {
  return `page:${route.method.toUpperCase()} ${route.path}`;
}

function fill(path: string, ...sources: Readonly<Record<string, string>>[]): string {
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    encodeURIComponent(sources.map((s) => s[name]).find((v) => v !== undefined) ?? 'verify-00000000'),
  );
}

/** The path of a redirect without its origin, so the same target on either spelling compares equal. */
function redirectOf(exchange: Exchange): string | null {
  const location = exchange.headers['location'];
  if (location === undefined) return null;
  try {
    const url = new URL(location, 'http://x.invalid');
    return `${url.pathname}${url.search}`;
  } catch {
    return location;
  }
}

/**
 * Attacks every route: A's cookie at B's host (`cross-host`, compared with no cookie at B's host), and
 * each change at A's host from a third origin (`csrf`, which must be refused or answered as without a
 * cookie). GETs go first; nothing a correct site does changes anything.
 */
export async function attackHosts(input: HostAttackInput): Promise<{
  operations: OperationResult[];
  checks: Check[];
}> {
  const { hosts, send } = input;
  const scheme = hosts.scheme ?? 'https';
  const markers = [hosts.a, hosts.a.replace(/:[0-9]+$/, ''), input.aId, ...(hosts.aMarkers ?? [])].filter(
    (m) => m.length >= 4,
  );
  const checks = new Map<string, Check[]>();
  const record = (route: CookieRoute, attack: string, expected: string, got: string, verdict: Verdict) => {
    const operation = routeOperation(route);
    checks.set(operation, [
      ...(checks.get(operation) ?? []),
      { operation, operationId: null, attack, credential: 'session', expected, got, verdict },
    ]);
  };

  const request = (
    route: CookieRoute,
    host: string,
    path: string,
    cookie: boolean,
    origin: string,
  ): OutgoingRequest => {
    const method = route.method.toUpperCase();
    const headers: Record<string, string> = { host, ...(cookie ? hosts.session : {}) };
    if (safeMethods.has(method)) return { method, path, headers };
    const form = new URLSearchParams(route.form ?? {});
    if (hosts.formToken !== undefined) form.set(hosts.formToken.field, hosts.formToken.value);
    return {
      method,
      path,
      headers: { ...headers, origin },
      body: { contentType: 'application/x-www-form-urlencoded', raw: form.toString() },
    };
  };

  // A's own session must work at A's own host, or replaying it proves nothing: at least one page must
  // answer A's cookie otherwise than no cookie.
  const pages = hosts.routes.filter((r) => safeMethods.has(r.method.toUpperCase()));
  let alive = false;
  for (const route of pages) {
    const path = fill(route.path, input.aIds, input.unknownIds);
    const [own, none] = await Promise.all([
      send(request(route, hosts.a, path, true, '')),
      send(request(route, hosts.a, path, false, '')),
    ]);
    if (own.status !== 0 && (own.status !== none.status || redirectOf(own) !== redirectOf(none))) {
      alive = true;
      break;
    }
  }

  const crossHost = async (route: CookieRoute) => {
    const path = fill(route.path, input.bIds, input.unknownIds);
    const origin = `${scheme}://${hosts.b}`;
    const none = await send(request(route, hosts.b, path, false, origin));
    const replay = await send(request(route, hosts.b, path, true, origin));
    const expected = `as without a cookie at B's host (${none.status}${redirectOf(none) === null ? '' : ` to ${redirectOf(none)}`})`;
    if (replay.status === 0 || none.status === 0) {
      record(route, 'cross-host', expected, (replay.status === 0 ? replay : none).text, 'inconclusive');
      return;
    }
    const shown = markersIn(`${JSON.stringify(replay.headers)}\n${replay.text}`, markers).filter(
      (m) => !markersIn(`${JSON.stringify(none.headers)}\n${none.text}`, [m]).length,
    );
    const differences = [
      ...(replay.status !== none.status ? [`${replay.status}, without a cookie ${none.status}`] : []),
      ...(redirectOf(replay) !== redirectOf(none)
        ? [`redirect to ${redirectOf(replay) ?? 'nowhere'}, without a cookie ${redirectOf(none) ?? 'none'}`]
        : []),
      ...(shown.length > 0 ? [`the answer shows A's ${shown.map(label).join(', ')}`] : []),
    ];
    if (differences.length > 0) {
      record(
        route,
        'cross-host',
        expected,
        `A's cookie accepted at B's host: ${differences.join('; ')}`,
        'leak',
      );
      return;
    }
    record(
      route,
      'cross-host',
      expected,
      alive
        ? `${replay.status} as without`
        : `${replay.status} as without, but A's cookie is refused at A's host too`,
      alive ? 'pass' : 'inconclusive',
    );
  };

  const crossSite = async (route: CookieRoute) => {
    const path = fill(route.path, input.aIds, input.unknownIds);
    const none = await send(request(route, hosts.a, path, false, `${scheme}://${hosts.a}`));
    const forged = await send(request(route, hosts.a, path, true, thirdOrigin));
    const verdict: Verdict =
      forged.status === 0
        ? 'inconclusive'
        : forged.status === 401 || forged.status === 403 || forged.status === none.status
          ? 'pass'
          : 'leak';
    record(
      route,
      'csrf',
      `refused from another origin (401/403, or ${none.status} as without a cookie)`,
      verdict === 'leak'
        ? `${forged.status}: ${forged.status >= 200 && forged.status < 400 ? 'accepted' : 'not refused'} from ${thirdOrigin}`
        : verdict === 'pass'
          ? `${forged.status} (refused)`
          : forged.text,
      verdict,
    );
  };

  const run = async (queue: (() => Promise<void>)[]) => {
    const workers = Array.from({ length: Math.min(input.concurrency, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await next();
    });
    await Promise.all(workers);
  };
  const ordered = [...pages, ...hosts.routes.filter((r) => !safeMethods.has(r.method.toUpperCase()))];
  if (!input.omit.has('cross-host')) await run(ordered.map((r) => () => crossHost(r)));
  if (!input.omit.has('csrf'))
    await run(ordered.filter((r) => !safeMethods.has(r.method.toUpperCase())).map((r) => () => crossSite(r)));

  const operations = hosts.routes.map((route) => {
    const mine = checks.get(routeOperation(route)) ?? [];
    return coverageOf(routeOperation(route), mine, () =>
      mine.length > 0
        ? `every attack was inconclusive (e.g. ${mine[0]!.attack}: ${mine[0]!.got})`
        : 'no attack applies',
    );
  });
  return { operations, checks: hosts.routes.flatMap((r) => checks.get(routeOperation(r)) ?? []) };

  function label(marker: string): string {
    return marker === input.aId
      ? 'id'
      : marker.startsWith(hosts.a.replace(/:[0-9]+$/, ''))
        ? 'host'
        : `"${marker}"`;
  }
}
