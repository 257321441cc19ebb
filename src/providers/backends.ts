// Where each backend of a server points and whether it answered when the server started, for the start
// banner. A backend that is misconfigured or does not answer is reported with the variable that configures
// it; only the store is needed to start. Locations are host:port or directories, never a credential.
import { connect } from 'node:net';
import type { Config } from '../config.js';
import type { ResourceKind } from '../domain/kinds.js';
import { describePostgresUrl } from '../util/postgres-url.js';
import type { Provider } from './provider.js';

export type BackendName = 'store' | ResourceKind;

/** The order of the banner. */
export const backendNames: readonly BackendName[] = [
  'store',
  'postgres',
  'redis',
  'rabbitmq',
  'kubernetes',
  'storage',
];

export interface BackendStatus {
  readonly backend: BackendName;
  /** The variable that points the server at it. */
  readonly variable: string;
  /** host:port, a socket directory or a directory; null when it is not configured. */
  readonly location: string | null;
  /** `off`: not configured; `misconfigured`: its configuration was refused; `down`: no answer. */
  readonly state: 'up' | 'down' | 'misconfigured' | 'off';
  /** Why it is not up, in one line without secrets. */
  readonly reason: string | null;
}

function hostPort(value: string): string {
  const url = new URL(value);
  return url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
}

/** Where a TCP connection (or a Unix socket) reaches a backend, checked before the backend is asked. */
type Endpoint = { readonly host: string; readonly port: number } | { readonly path: string };

const defaultPorts: Record<string, number> = { 'redis:': 6379, 'rediss:': 6379, 'http:': 80, 'https:': 443 };

function endpointOf(value: string): Endpoint {
  const url = new URL(value);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol === 'postgres:') {
    const port = url.port === '' ? 5432 : Number(url.port);
    if (/^%2f/i.test(host)) return { path: `${decodeURIComponent(host)}/.s.PGSQL.${port}` };
    return { host, port };
  }
  return { host, port: url.port === '' ? (defaultPorts[url.protocol] ?? 0) : Number(url.port) };
}

/** Resolves once a connection to `endpoint` opens; rejects with the socket's error (ECONNREFUSED …). */
function reach(endpoint: Endpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in endpoint ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

/** Where the configuration points each backend, and which variable says so. */
export function backendLocations(
  config: Config,
): Record<BackendName, { variable: string; location: string | null; endpoint?: Endpoint }> {
  const { dataDir } = config;
  return {
    store:
      config.databaseUrl === undefined
        ? { variable: 'BULKHEAD_DATA_DIR', location: `pglite in ${dataDir}` }
        : { variable: 'BULKHEAD_DATABASE_URL', location: describePostgresUrl(config.databaseUrl) },
    postgres:
      config.postgresUrl === undefined
        ? { variable: 'BULKHEAD_POSTGRES_URL', location: `embedded PGlite in ${dataDir}/postgres` }
        : {
            variable: 'BULKHEAD_POSTGRES_URL',
            location: describePostgresUrl(config.postgresUrl),
            endpoint: endpointOf(config.postgresUrl),
          },
    redis:
      config.redisUrl === undefined
        ? { variable: 'BULKHEAD_REDIS_URL', location: null }
        : {
            variable: 'BULKHEAD_REDIS_URL',
            location: hostPort(config.redisUrl),
            endpoint: endpointOf(config.redisUrl),
          },
    rabbitmq:
      config.rabbitmqUrl === undefined
        ? { variable: 'BULKHEAD_RABBITMQ_URL', location: null }
        : {
            variable: 'BULKHEAD_RABBITMQ_URL',
            location:
              `${hostPort(config.rabbitmqUrl)} (management)` +
              (config.rabbitmqAmqpUrl === undefined ? '' : `, ${hostPort(config.rabbitmqAmqpUrl)} (AMQP)`),
            endpoint: endpointOf(config.rabbitmqUrl),
          },
    kubernetes: { variable: 'BULKHEAD_KUBECONFIG', location: config.kubeconfig ?? null },
    storage:
      config.storage === 's3'
        ? {
            variable: 'BULKHEAD_STORAGE',
            location: `${config.s3Endpoint ?? 'AWS S3'} bucket ${config.s3Bucket ?? ''}, prefix ${config.s3Prefix}`,
          }
        : { variable: 'BULKHEAD_STORAGE_DIR', location: config.storageDir ?? `${dataDir}/storage` },
  };
}

/** An error's message in one line, with any `user:password@` taken out and a bounded length. */
export function safeReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    if (current.message !== '' && !parts.includes(current.message)) parts.push(current.message);
    current = current.cause;
  }
  const text = parts.length === 0 ? String(error) : parts.join(': ');
  const line = text
    .replace(/\/\/[^/@\s]*@/g, '//')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** Rejects with "no answer within …" when `work` takes longer than `ms`. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  work.catch(() => undefined); // a late failure after the timeout is not an unhandled rejection
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Checks every configured backend, in parallel, each within `timeoutMs`: a connection to its address
 * (so an unreachable one is reported with the network's own reason), then the request the server makes
 * of it first, the listing of its own objects, with the configured credentials. The store answered
 * already: the server could not start without it.
 */
export async function checkBackends(options: {
  readonly config: Config;
  readonly providers: ReadonlyMap<ResourceKind, Provider>;
  /** Providers the configuration could not build, with the reason. */
  readonly unavailable: ReadonlyMap<ResourceKind, unknown>;
  readonly timeoutMs: number;
}): Promise<BackendStatus[]> {
  const locations = backendLocations(options.config);
  return Promise.all(
    backendNames.map(async (backend): Promise<BackendStatus> => {
      const { variable, location, endpoint } = locations[backend];
      const status = { backend, variable, location };
      if (backend === 'store') return { ...status, state: 'up', reason: null };
      const refused = options.unavailable.get(backend);
      if (refused !== undefined) return { ...status, state: 'misconfigured', reason: safeReason(refused) };
      const provider = options.providers.get(backend);
      if (provider === undefined || location === null) return { ...status, state: 'off', reason: null };
      try {
        const ask = async () => {
          if (endpoint !== undefined) await reach(endpoint);
          await provider.listOwned();
        };
        await within(ask(), options.timeoutMs);
        return { ...status, state: 'up', reason: null };
      } catch (error) {
        return { ...status, state: 'down', reason: safeReason(error) };
      }
    }),
  );
}

/** The banner's lines: one per backend, then a warning for each that is configured but not up. */
export function bannerLines(statuses: readonly BackendStatus[]): string[] {
  const width = Math.max(...statuses.map((s) => s.backend.length));
  const stateWidth = Math.max(...statuses.map((s) => s.state.length));
  const lines = statuses.map((s) => {
    const where = s.location ?? `not configured (set ${s.variable})`;
    return `  ${s.backend.padEnd(width)}  ${s.state.padEnd(stateWidth)}  ${where}`.trimEnd();
  });
  for (const s of statuses) {
    if (s.state !== 'down' && s.state !== 'misconfigured') continue;
    lines.push(
      s.state === 'down'
        ? `warning: ${s.backend} at ${s.location ?? '-'} did not answer its health check: ${s.reason ?? ''}; ` +
            `check ${s.variable} (its resources cannot be created or changed until it answers)`
        : `warning: ${s.backend} is misconfigured: ${s.reason ?? ''}; fix ${s.variable} and restart ` +
            `(until then no ${s.backend} resources are offered)`,
    );
  }
  return lines;
}
