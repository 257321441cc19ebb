// The `bulkhead` command. Each command file registers itself and calls the same services as the API.
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
import { text } from 'node:stream/consumers';
import { Command, CommanderError } from 'commander';
import { isBulkheadError } from '../errors.js';
import { registerAudit } from './commands/audit.js';
import { registerBilling } from './commands/billing.js';
import { registerBlueprint } from './commands/blueprint.js';
import { registerCompletion } from './commands/completion.js';
import { registerCompute } from './commands/compute.js';
import { registerDomain } from './commands/domain.js';
import { registerKey } from './commands/key.js';
import { registerMigrate } from './commands/migrate.js';
import { registerGrant } from './commands/grant.js';
import { registerObject } from './commands/object.js';
import { registerOperator } from './commands/operator.js';
import { registerPool } from './commands/pool.js';
import { registerPrincipal } from './commands/principal.js';
import { registerResource } from './commands/resource.js';
import { registerSigningKey } from './commands/signing-key.js';
import { registerOAuthClient } from './commands/oauth-client.js';
import { registerServe } from './commands/serve.js';
import { registerVerify } from './commands/verify.js';
import { createContext, loadConfigModule, type GlobalOptions, type Io } from './context.js';
import { version } from './version.js';

/**
 * The process's own streams. When the reader of standard output goes away (`bulkhead audit list | head
 * -2`), the rest of the output is dropped and the command ends as it would have, without a stack trace.
 */
function processIo(): Io {
  let closed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed = true;
  });
  const write = (chunk: string | Uint8Array) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      process.stdout.write(chunk, () => resolve());
    });
  return {
    out: (line) => {
      if (!closed) process.stdout.write(`${line}\n`);
    },
    err: (line) => process.stderr.write(`${line}\n`),
    input: () => text(process.stdin),
    inputBytes: () => process.stdin,
    write,
    ...(process.stderr.isTTY
      ? { progress: (line: string | null) => process.stderr.write(`\r\x1b[K${line ?? ''}`) }
      : {}),
  };
}

/** Prints an error's one-line fix, when it carries one, on its own line. */
function printHint(io: Io, error: unknown): void {
  const hint = (error as { hint?: unknown }).hint;
  if (typeof hint === 'string' && hint !== '') io.err(`hint: ${hint}`);
}

/**
 * A configuration error (ConfigError), or the store's refusal of its database roles (StoreRolesError),
 * known by name: importing the classes to test them would load zod, or the store and PGlite, for every
 * command that fails.
 */
function isConfigurationError(error: unknown): error is Error {
  return error instanceof Error && (error.name === 'ConfigError' || error.name === 'StoreRolesError');
}

function exitOverrideAll(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) exitOverrideAll(sub);
}

/**
 * Runs the CLI and resolves to its exit code.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(
  argv: readonly string[],
  io: Io = processIo(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const program = new Command('bulkhead')
    .description('Keeps the tenants of a multi-tenant platform apart at every layer, and proves it.')
    .option('--data-dir <dir>', 'embedded store directory (BULKHEAD_DATA_DIR, default .bulkhead)')
    .option('--url <url>', 'go through a running server instead of the store (BULKHEAD_URL)')
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(add --help for usage)');
  const ctx = createContext(io, env, () => program.opts<GlobalOptions>());
  // Every command's dependencies are loaded by its action, when it runs; the configuration, which
  // nearly all of them read, once before any of them.
  program.hook('preAction', async () => {
    await loadConfigModule();
  });
  registerServe(program, ctx);
  registerMigrate(program, ctx);
  registerDomain(program, ctx);
  registerKey(program, ctx);
  registerPrincipal(program, ctx);
  registerAudit(program, ctx);
  registerResource(program, ctx);
  registerSigningKey(program, ctx);
  registerOAuthClient(program, ctx);
  registerOperator(program, ctx);
  registerVerify(program, ctx);
  registerCompute(program, ctx);
  registerObject(program, ctx);
  registerGrant(program, ctx);
  registerBilling(program, ctx);
  registerPool(program, ctx);
  registerBlueprint(program, ctx);
  registerCompletion(program, ctx);
  exitOverrideAll(program);
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
    // The server's database roles are configuration too: the message names what to change.
    if (isConfigurationError(error)) {
      io.err(`bulkhead: ${error.message}`);
      printHint(io, error);
      return 2;
    }
    if (isBulkheadError(error)) {
      io.err(`bulkhead: ${error.code}: ${error.message}`);
      printHint(io, error);
      // Input the server refuses (a 400) is a usage error; a conflict such as slug_taken is a failure.
      return error.status === 400 ? 2 : 1;
    }
    io.err(`bulkhead: ${(error as Error).message}`);
    printHint(io, error);
    return 1;
  }
}
