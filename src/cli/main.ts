// The `bulkhead` command. Each command file registers itself and calls the same services as the API.
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
import { text } from 'node:stream/consumers';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { isBulkheadError } from '../errors.js';
import { registerAudit } from './commands/audit.js';
import { registerDomain } from './commands/domain.js';
import { registerKey } from './commands/key.js';
import { registerMigrate } from './commands/migrate.js';
import { registerOperator } from './commands/operator.js';
import { registerPrincipal } from './commands/principal.js';
import { registerResource } from './commands/resource.js';
import { registerSigningKey } from './commands/signing-key.js';
import { registerServe } from './commands/serve.js';
import { registerVerify } from './commands/verify.js';
import { createContext, type GlobalOptions, type Io } from './context.js';

const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  input: () => text(process.stdin),
};

/**
 * Runs the CLI and resolves to its exit code.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(
  argv: readonly string[],
  io: Io = stdio,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const program = new Command('bulkhead')
    .description('Keeps the tenants of a multi-tenant platform apart at every layer, and proves it.')
    .option('--data-dir <dir>', 'embedded store directory (BULKHEAD_DATA_DIR, default .bulkhead)')
    .option('--url <url>', 'go through a running server instead of the store (BULKHEAD_URL)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(add --help for usage)');
  const ctx = createContext(io, env, () => program.opts<GlobalOptions>());
  registerServe(program, ctx);
  registerMigrate(program, ctx);
  registerDomain(program, ctx);
  registerKey(program, ctx);
  registerPrincipal(program, ctx);
  registerAudit(program, ctx);
  registerResource(program, ctx);
  registerSigningKey(program, ctx);
  registerOperator(program, ctx);
  registerVerify(program, ctx);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.exitCode === 0
        ? 0
        : 2;
    }
    if (error instanceof ConfigError) {
      io.err(`bulkhead: ${error.message}`);
      return 2;
    }
    if (isBulkheadError(error)) {
      io.err(`bulkhead: ${error.code}: ${error.message}`);
      // Input the server refuses (a 400) is a usage error; a conflict such as slug_taken is a failure.
      return error.status === 400 ? 2 : 1;
    }
    io.err(`bulkhead: ${(error as Error).message}`);
    return 1;
  }
}
