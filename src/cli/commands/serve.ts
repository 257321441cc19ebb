import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { BulkheadError } from '../../errors.js';
import { safeReason } from '../../providers/backends.js';
import { describePostgresUrl } from '../../util/postgres-url.js';
import type { Services } from '../../runtime.js';
import type { CliContext } from '../context.js';

/**
 * The store and services, explaining what to do when another server holds the data directory or the
 * store's PostgreSQL does not answer: the one backend the server cannot start without.
 */
async function open(config: Config): Promise<Services> {
  // Loaded here rather than at the top: every other command would pay for the store and the server.
  const { openServices } = await import('../../runtime.js');
  const { DataDirLockedError } = await import('../../store/store.js');
  try {
    return await openServices(config);
  } catch (error) {
    if (config.databaseUrl !== undefined && isConnectionError(error)) {
      throw new BulkheadError(
        'unavailable',
        `the store at ${describePostgresUrl(config.databaseUrl)} did not answer: ${safeReason(error)}; ` +
          'check BULKHEAD_DATABASE_URL',
      );
    }
    if (error instanceof DataDirLockedError) {
      throw new BulkheadError(
        'unavailable',
        `${error.message} (another "bulkhead serve"?). Stop it first (Ctrl-C in its terminal, or kill ` +
          `${error.pid}), or give this server a directory of its own with --data-dir or BULKHEAD_DATA_DIR.`,
      );
    }
    throw error;
  }
}

/** A failure to reach or log in to PostgreSQL, as opposed to a bug or a refused migration. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return /timeout|terminated/i.test((error as Error | null)?.message ?? '');
  // Network errors (ECONNREFUSED, ENOTFOUND …), and SQLSTATE 08 (connection), 28 (authorization), 3D000.
  return /^E[A-Z]+$/.test(code) || /^(08|28)/.test(code) || code === '3D000';
}

interface ServeOptions {
  port?: string;
  host?: string;
  logLevel?: string;
  logFormat?: string;
  verifyEvery?: string;
  tlsSelfSigned?: boolean;
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the HTTP API (embedded PGlite store unless BULKHEAD_DATABASE_URL is set)')
    .option('--port <port>', 'port to listen on (BULKHEAD_PORT, default 8080)')
    .option('--host <host>', 'address to listen on (BULKHEAD_HOST, default 127.0.0.1)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (BULKHEAD_LOG_LEVEL)')
    .option(
      '--log-format <format>',
      'pretty|json (BULKHEAD_LOG_FORMAT, default pretty on a terminal, json otherwise)',
    )
    .option(
      '--verify-every <duration>',
      'attack itself with bulkhead verify every interval, e.g. 1h (BULKHEAD_VERIFY_EVERY; needs BULKHEAD_OPERATOR_TOKEN)',
    )
    .option(
      '--tls-self-signed',
      'development only: HTTPS with a certificate made at start for localhost and the portal hosts (BULKHEAD_TLS_SELF_SIGNED)',
    )
    .action(async (opts: ServeOptions) => {
      const config = ctx.config({
        port: opts.port,
        host: opts.host,
        logLevel: opts.logLevel,
        logFormat: opts.logFormat,
        verifyEvery: opts.verifyEvery,
        tlsSelfSigned: opts.tlsSelfSigned === true ? 'true' : undefined,
      });
      const { ConfigError } = await import('../../config.js');
      if (config.verifyEvery !== undefined && config.operatorToken === undefined)
        throw new ConfigError(
          'invalid configuration: BULKHEAD_VERIFY_EVERY needs BULKHEAD_OPERATOR_TOKEN (the server verifies itself with it)',
        );
      const services = await open(config);
      const { startServer } = await import('../../runtime/serve.js');
      const terminal = process.stdout.isTTY;
      try {
        await startServer(config, services, (line) => ctx.io.out(line), {
          logFormat: config.logFormat ?? (terminal ? 'pretty' : 'json'),
          colour: terminal,
        });
      } catch (error) {
        await services.close();
        throw error;
      }
    });
}
