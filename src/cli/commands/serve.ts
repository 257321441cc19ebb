import type { Command } from 'commander';
import { ConfigError } from '../../config.js';
import { startServer } from '../../http/server.js';
import { openServices } from '../../runtime.js';
import type { CliContext } from '../context.js';

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the HTTP API (embedded PGlite store unless BULKHEAD_DATABASE_URL is set)')
    .option('--port <port>', 'port to listen on (BULKHEAD_PORT, default 8080)')
    .option('--host <host>', 'address to listen on (BULKHEAD_HOST, default 127.0.0.1)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (BULKHEAD_LOG_LEVEL)')
    .option(
      '--verify-every <duration>',
      'attack itself with bulkhead verify every interval, e.g. 1h (BULKHEAD_VERIFY_EVERY; needs BULKHEAD_OPERATOR_TOKEN)',
    )
    .action(async (opts: { port?: string; host?: string; logLevel?: string; verifyEvery?: string }) => {
      const config = ctx.config({
        port: opts.port,
        host: opts.host,
        logLevel: opts.logLevel,
        verifyEvery: opts.verifyEvery,
      });
      if (config.verifyEvery !== undefined && config.operatorToken === undefined)
        throw new ConfigError(
          'invalid configuration: BULKHEAD_VERIFY_EVERY needs BULKHEAD_OPERATOR_TOKEN (the server verifies itself with it)',
        );
      const services = await openServices(config);
      try {
        await startServer(config, services, (line) => ctx.io.out(line));
      } catch (error) {
        await services.close();
        throw error;
      }
    });
}
