// Shell completion scripts, generated from the command tree itself, so a command or option added to
// the CLI completes without anyone editing a script. Bash gets a function over COMP_WORDS; zsh runs the
// same function through bashcompinit; fish gets one `complete` line per command and option.
import type { Command, Option } from 'commander';

interface Node {
  /** The words that lead here from `bulkhead`, e.g. ['resource', 'create']. */
  readonly path: readonly string[];
  readonly command: Command;
}

/** Every command of the tree, the root first, parents before their children. */
function walk(command: Command, path: readonly string[] = []): Node[] {
  return [{ path, command }, ...command.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

function optionWords(command: Command): string[] {
  const words = command.options.flatMap((o: Option) => [o.long, o.short].filter((w) => w !== undefined));
  return [...words, '--help'];
}

function words(command: Command): string[] {
  return [...command.commands.map((c) => c.name()), ...optionWords(command)];
}

/** Quotes `text` for a shell as one word. */
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const nodes = walk(program);
  const parents = nodes.filter((n) => n.path.length > 0).map((n) => n.path.join(' '));
  const choices = nodes.flatMap((n) =>
    n.command.options
      .filter((o) => o.argChoices !== undefined && o.long !== undefined)
      .map((o) => ({ key: `${n.path.join(' ')}|${o.long!}`, values: o.argChoices! })),
  );
  return [
    `# ${name} completion for bash. Install: ${name} completion bash > /etc/bash_completion.d/${name}`,
    `# or add to ~/.bashrc: source <(${name} completion bash)`,
    `${fn}() {`,
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" next i',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    next="${path:+$path }${COMP_WORDS[i]}"',
    '    case "$next" in',
    `      ${parents.map(quote).join('|')}) path="$next" ;;`,
    '    esac',
    '  done',
    '  local words=""',
    ...(choices.length === 0
      ? []
      : [
          '  case "$path|$prev" in',
          ...choices.map((c) => `    ${quote(c.key)}) words=${quote(c.values.join(' '))} ;;`),
          '  esac',
        ]),
    '  if [[ -z "$words" ]]; then',
    '    case "$path" in',
    ...nodes.map((n) => `      ${quote(n.path.join(' '))}) words=${quote(words(n.command).join(' '))} ;;`),
    '    esac',
    '  fi',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    `complete -o default -F ${fn} ${name}`,
    '',
  ].join('\n');
}

export function zshCompletion(program: Command): string {
  const name = program.name();
  return [
    `#compdef ${name}`,
    `# ${name} completion for zsh. Install: ${name} completion zsh > "\${fpath[1]}/_${name}"`,
    `# or add to ~/.zshrc: source <(${name} completion zsh)`,
    'autoload -U +X bashcompinit && bashcompinit',
    ...bashCompletion(program)
      .split('\n')
      .filter((line) => !line.startsWith('#')),
  ].join('\n');
}

export function fishCompletion(program: Command): string {
  const name = program.name();
  const lines = [
    `# ${name} completion for fish. Install: ${name} completion fish > ~/.config/fish/completions/${name}.fish`,
    `complete -c ${name} -f`,
  ];
  for (const { path, command } of walk(program)) {
    // Fish sees a path as "each of its words seen, and none of the children's yet".
    const seen = path.map((w) => `__fish_seen_subcommand_from ${w}`);
    const children = command.commands.map((c) => c.name());
    const here = [
      ...(path.length === 0 ? ['__fish_use_subcommand'] : seen),
      ...(path.length > 0 && children.length > 0
        ? [`not __fish_seen_subcommand_from ${children.join(' ')}`]
        : []),
    ].join('; and ');
    for (const child of command.commands)
      lines.push(`complete -c ${name} -n ${quote(here)} -a ${child.name()} -d ${quote(child.description())}`);
    for (const o of command.options) {
      const flag = o.long === undefined ? '' : ` -l ${o.long.replace(/^--/, '')}`;
      const short = o.short === undefined ? '' : ` -s ${o.short.replace(/^-/, '')}`;
      const values = o.argChoices === undefined ? '' : ` -x -a ${quote(o.argChoices.join(' '))}`;
      const takes = o.argChoices === undefined && (o.required || o.optional) ? ' -r' : '';
      lines.push(
        `complete -c ${name} -n ${quote(here)}${flag}${short}${takes}${values} -d ${quote(o.description)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
