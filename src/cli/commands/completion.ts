import { Argument, type Command } from 'commander';
import { bashCompletion, fishCompletion, zshCompletion } from '../completion.js';
import type { CliContext } from '../context.js';

const shells = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };

export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('print a shell completion script (see docs/cli.md for where to put it)')
    .addArgument(new Argument('<shell>', 'the shell').choices(Object.keys(shells)))
    .action((shell: keyof typeof shells) => ctx.io.out(shells[shell](program).trimEnd()));
}
