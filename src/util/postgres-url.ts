// PostgreSQL connection URLs as libpq writes them, brought to one form that both `new URL` and `pg` read
// the same way. libpq allows what the WHATWG parser refuses or misreads: a socket directory in the query
// (`postgres://user@/db?host=/var/run/postgresql`) or percent-encoded in the host position
// (`postgres://%2Fvar%2Frun%2Fpostgresql/db`). The one form keeps the host in the host position,
// a socket directory percent-encoded there, and always a port.

const shape = /^(postgres(?:ql)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i;

/** Thrown with the reason a value is not a usable PostgreSQL URL; the caller names the setting. */
export class PostgresUrlError extends Error {
  override readonly name = 'PostgresUrlError';
}

function fail(reason: string): never {
  throw new PostgresUrlError(reason);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return fail(`has a malformed percent-encoding in "${value}"`);
  }
}

/** Host and port of the authority part (`host`, `host:port`, `[v6]:port`, `%2Fdir:port`, or empty). */
function hostPort(authority: string): { host: string; port: string } {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d*))?$/.exec(authority);
  if (v6 !== null) return { host: v6[1]!, port: v6[2] ?? '' };
  const plain = /^([^:[\]]*)(?::(\d*))?$/.exec(authority);
  if (plain === null) return fail('has a malformed host:port');
  return { host: decode(plain[1]!), port: plain[2] ?? '' };
}

/** A URL with a host name or address in the host position and no host in its query: used as it is. */
function alreadyPlain(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'postgres:' || url.protocol === 'postgresql:') &&
    url.hostname !== '' &&
    !/^%2f/i.test(url.hostname) &&
    !url.hostname.includes(',') &&
    !url.searchParams.has('host') &&
    !url.searchParams.has('port')
  );
}

/**
 * The URL in the one form the server reads: `postgres://[user[:password]@]host:port/database[?options]`,
 * with a socket directory percent-encoded as the host. Throws a PostgresUrlError saying what is wrong.
 *
 * @example
 * normalizePostgresUrl('postgres://postgres@/postgres?host=/var/run/postgresql');
 * // 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/postgres'
 */
export function normalizePostgresUrl(value: string): string {
  if (alreadyPlain(value)) return value;
  const match = shape.exec(value.trim());
  if (match === null) return fail('must be a postgres:// URL');
  const [, , authority = '', path = '', query = ''] = match;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at + 1);
  const address = hostPort(at === -1 ? authority : authority.slice(at + 1));
  if (address.host.includes(',')) fail('names several hosts, which is not supported');
  const params = new URLSearchParams(query);
  const hostParam = params.get('host');
  const portParam = params.get('port');
  params.delete('host');
  params.delete('port');
  // As libpq: a parameter wins over the host position.
  const host = hostParam ?? address.host;
  if (host.includes(',')) fail('names several hosts, which is not supported');
  const port = portParam ?? address.port;
  if (port !== '' && !/^\d{1,5}$/.test(port)) fail('has a port that is not a number');
  const portNumber = port === '' ? 5432 : Number(port);
  if (portNumber < 1 || portNumber > 65_535) fail('has a port outside 1-65535');
  if (host !== '' && !host.startsWith('/') && /[/@\s]/.test(host)) {
    fail(`has a host "${host}" that is neither a name, an address nor an absolute socket directory`);
  }
  const hostPart = host.startsWith('/')
    ? encodeURIComponent(host)
    : host.includes(':')
      ? `[${host}]`
      : host === ''
        ? 'localhost'
        : host;
  const rest = params.toString();
  const normal = `postgres://${userinfo}${hostPart}:${portNumber}${path}${rest === '' ? '' : `?${rest}`}`;
  try {
    new URL(normal);
  } catch {
    return fail('is not a URL');
  }
  return normal;
}

/**
 * Where a URL in the one form reaches the server: a host name, an address or a socket directory, and a
 * port. Also reads a `?host=` query, for URLs that were not brought to the one form.
 */
export function postgresAddress(url: URL): { host: string | null; port: number } {
  const raw = url.hostname;
  const host = /^%2f/i.test(raw) ? decodeURIComponent(raw) : raw.replace(/^\[(.*)\]$/, '$1');
  return {
    host: host === '' ? url.searchParams.get('host') : host,
    port: url.port === '' ? 5432 : Number(url.port),
  };
}

/** `host:port`, or the socket directory and port, for telling an operator where a URL points. */
export function describePostgresUrl(value: string): string {
  const url = new URL(normalizePostgresUrl(value));
  const { host, port } = postgresAddress(url);
  const database = decodeURIComponent(url.pathname.slice(1));
  const where = host?.includes(':') === true ? `[${host}]:${port}` : `${host ?? ''}:${port}`;
  const socket = host?.startsWith('/') === true ? ' (socket)' : '';
  return `${where}${database === '' ? '' : `/${database}`}${socket}`;
}
