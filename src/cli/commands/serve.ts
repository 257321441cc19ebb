import type { Command } from 'commander';
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
    .action(async (opts: { port?: string; host?: string; logLevel?: string }) => {
      const config = ctx.config({ port: opts.port, host: opts.host, logLevel: opts.logLevel });
      const services = await openServices(config);
      try {
        await startServer(config, services, (line) => ctx.io.out(line));
      } catch (error) {
        await services.close();
        throw error;
      }
    });
}
