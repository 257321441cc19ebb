import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import type * as configModuleTypes from '../config.js';
import type { Config, ConfigInput, loadConfig } from '../config.js';
import { BulkheadError } from '../errors.js';
import { idPrefixes, isId, type IdKind } from '../domain/ids.js';
import type { Services } from '../runtime.js';
import { directTenantPlane, httpTenantPlane, type TenantPlane } from './tenant-plane.js';
import type { ControlPlane } from './control-plane.js';
import { httpControlPlane } from './http-client.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Standard input, read to its end (for secrets, which never go on the command line). */
  input(): Promise<string>;
  /** Standard input as bytes, for object data (without it: `input()` as UTF-8). */
  inputBytes?(): AsyncIterable<Uint8Array>;
  /** Writes bytes to standard output as they are, for object data (without it: `out` as UTF-8). */
  write?(chunk: Uint8Array): Promise<void>;
  /**
   * Shows a progress line in place of the last one, or clears it with null; only where standard error is
   * a terminal, so it never mixes into a pipe, a log or --json output.
   */
  progress?(text: string | null): void;
}

export interface GlobalOptions {
  dataDir?: string;
  url?: string;
}

export interface CliContext {
  readonly io: Io;
  readonly env: NodeJS.ProcessEnv;
  /** Builds the configuration from the environment and the global flags plus `flags`. */
  config(flags?: ConfigInput): ReturnType<typeof loadConfig>;
  /** Runs `fn` with a control plane (HTTP when a URL is configured, the store otherwise), then closes it. */
  withControlPlane<T>(fn: (cp: ControlPlane) => Promise<T>): Promise<T>;
  /** Runs `fn` with the tenant plane of the provisioning key in BULKHEAD_KEY, then closes it. */
  withTenantPlane<T>(fn: (tp: TenantPlane) => Promise<T>): Promise<T>;
  /** Sets the exit code for a command that ran but found a failure (exit 1). */
  exitCode: number;
}

type ConfigModule = typeof configModuleTypes;
let configModule: ConfigModule | undefined;

/**
 * Loads the configuration module (and zod, its largest part). The program runs it before every action, so
 * that `ctx.config()` can stay synchronous while `--help` and `--version` never load it.
 */
export async function loadConfigModule(): Promise<ConfigModule> {
  configModule ??= await import('../config.js');
  return configModule;
}

function configs(): ConfigModule {
  if (configModule === undefined) throw new Error('the configuration is read before loadConfigModule()');
  return configModule;
}

/**
 * Opens the store directly, explaining what to do when a server holds the embedded data directory. The
 * store and the services behind it (PGlite, Kysely, the providers) are loaded here, on first use: a
 * command that goes through a server with --url, or only prints help, never loads them.
 */
async function openDirect(c: Config): Promise<Services> {
  const { openServices } = await import('../runtime.js');
  const { DataDirLockedError } = await import('../store/store.js');
  try {
    return await openServices(c);
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      throw new BulkheadError(
        'unavailable',
        `${error.message} (a running "bulkhead serve"?). Go through it: --url http://HOST:PORT, with BULKHEAD_OPERATOR_TOKEN (or BULKHEAD_KEY for resource commands) set.`,
      );
    }
    throw error;
  }
}

export function createContext(io: Io, env: NodeJS.ProcessEnv, globals: () => GlobalOptions): CliContext {
  const config = (flags: ConfigInput = {}) => {
    const g = globals();
    return configs().loadConfig(env, { dataDir: g.dataDir, url: g.url, ...flags });
  };
  return {
    io,
    env,
    config,
    exitCode: 0,
    async withTenantPlane(fn) {
      const c = config();
      const key = c.provisioningKey;
      if (key === undefined)
        throw new (configs().ConfigError)(
          "invalid configuration: set BULKHEAD_KEY to the domain's provisioning key",
        );
      let tp: TenantPlane;
      if (c.url !== undefined) tp = httpTenantPlane({ ...c, url: c.url }, key);
      else {
        const services = await openDirect(c);
        try {
          tp = await directTenantPlane(services, key);
        } catch (error) {
          await services.close();
          throw error;
        }
      }
      try {
        return await fn(tp);
      } finally {
        await tp.close();
      }
    },
    async withControlPlane(fn) {
      const c = config();
      let cp: ControlPlane;
      if (c.url !== undefined) {
        if (c.operatorToken === undefined) {
          throw new (configs().ConfigError)(
            'invalid configuration: set BULKHEAD_OPERATOR_TOKEN to call a server with --url',
          );
        }
        cp = httpControlPlane(c.url, c.operatorToken);
      } else {
        const { directControlPlane } = await import('./direct.js');
        cp = directControlPlane(await openDirect(c));
      }
      try {
        return await fn(cp);
      } finally {
        await cp.close();
      }
    },
  };
}

/** A domain given by id or by slug. */
export async function resolveDomain(cp: ControlPlane, ref: string): Promise<string> {
  if (isId('domain', ref)) return ref;
  const [match] = await cp.listDomains({ slug: ref, limit: 1 });
  if (match === undefined) throw new BulkheadError('not_found', `No domain "${ref}".`);
  return match.id;
}

/** Prints rows as aligned columns. */
export function printTable(
  io: Io,
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
): void {
  const cell = (v: unknown): string =>
    v === null || v === undefined
      ? '-'
      : Array.isArray(v)
        ? v.map(cell).join(',')
        : typeof v === 'string'
          ? v
          : JSON.stringify(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  io.out(line(columns.map((c) => c.toUpperCase())));
  for (const row of rows) io.out(line(columns.map((c) => cell(row[c]))));
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** Prints `value` as JSON with --json, or else as one row of a table. */
export function printOne(io: Io, value: object, columns: readonly string[], json: boolean | undefined): void {
  if (json === true) printJson(io, value);
  else printTable(io, [{ ...value }], columns);
}

/** Prints `items` as JSON with --json, or else as a table. */
export function printMany(
  io: Io,
  items: readonly object[],
  columns: readonly string[],
  json: boolean | undefined,
): void {
  if (json === true) printJson(io, items);
  else
    printTable(
      io,
      items.map((i) => ({ ...i })),
      columns,
    );
}

/**
 * Runs `work`, and once it has taken more than a second shows `label` with the seconds so far on the
 * progress line (a terminal's standard error only), cleared when it ends.
 */
export async function withProgress<T>(io: Io, label: string, work: () => Promise<T>): Promise<T> {
  if (io.progress === undefined) return work();
  const show = (line: string | null) => io.progress?.(line);
  const started = Date.now();
  let shown = false;
  const timer = setInterval(() => {
    shown = true;
    show(`${label} (${Math.round((Date.now() - started) / 1000)} s)`);
  }, 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    if (shown) show(null);
  }
}

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses a duration such as `90s`, `15m`, `1h` or `1d12h` into seconds, or refuses it as a usage error. */
export function parseSeconds(value: string): number {
  if (!/^(\d{1,9}[smhd])+$/.test(value.trim()))
    throw new InvalidArgumentError('must be a duration: a number and a unit (s, m, h, d), e.g. 30m, 1h, 7d');
  let seconds = 0;
  for (const [, n, unit] of value.trim().matchAll(/(\d+)([smhd])/g))
    seconds += Number(n) * durationUnits[unit!]!;
  return seconds;
}

/** Parses an ISO 8601 time, or refuses it as a usage error. */
export function parseTime(value: string): Date {
  const at = new Date(value);
  if (!/^\d{4}-\d\d-\d\dT/.test(value) || Number.isNaN(at.getTime()))
    throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z');
  return at;
}

/** An id option or argument of one kind (`ins_…`), refused as a usage error otherwise. */
export function idOf(kind: IdKind): (value: string) => string {
  return (value) => {
    if (!isId(kind, value)) throw new InvalidArgumentError(`must be an id of the form ${idPrefixes[kind]}_…`);
    return value;
  };
}

/** Parses a whole-number option, or refuses it as a usage error. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A JSON file a command reads (a price book, a blueprint), or a 400 `invalid_request` naming the path. */
export async function readJsonFile<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BulkheadError('invalid_request', `Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new BulkheadError('invalid_request', `${path} is not JSON: ${(error as Error).message}`);
  }
}
