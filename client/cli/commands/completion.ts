import { Argument, type Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { examples } from '../options';

/** The shells `migrate completion` writes a script for. */
const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** One command's part of the completion: its path, its subcommands, its options, its arguments' choices. */
interface CommandSpec {
  /** Space-separated path below `migrate` ('' for `migrate` itself, 'audit verify'). */
  path: string;
  subcommands: { name: string; description: string }[];
  options: OptionSpec[];
  /** Choices of its positional arguments (`completion <shell>`). */
  argChoices: string[];
}

interface OptionSpec {
  flags: string[];
  description: string;
  takesValue: boolean;
  choices: string[];
}

/**
 * Every command of the program as completion data, read from commander's own definitions (commands, options, choices),
 * so the scripts stay in step with the commands without a list kept by hand.
 */
export function commandSpecs(program: CommandUnknownOpts): CommandSpec[] {
  const out: CommandSpec[] = [];
  const walk = (cmd: CommandUnknownOpts, path: string) => {
    out.push({
      path,
      subcommands: cmd.commands.map((c) => ({ name: c.name(), description: c.description() })),
      options: [
        ...cmd.options
          .filter((o) => !o.hidden)
          .map((o) => ({
            flags: [o.short, o.long].filter((f): f is string => !!f),
            description: o.description,
            takesValue: o.required || o.optional,
            choices: o.argChoices ?? [],
          })),
        { flags: ['-h', '--help'], description: 'show help', takesValue: false, choices: [] },
      ],
      argChoices: cmd.registeredArguments.flatMap((a) => a.argChoices ?? []),
    });
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

/** `migrate completion bash|zsh|fish`: a completion script generated from the program. */
export function addCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (commands, options, and the choices of --gate, --kind, --phase, -o)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      examples([
        'source <(migrate completion bash)         # or save it in ~/.local/share/bash-completion/completions/migrate',
        'migrate completion zsh > "${fpath[1]}/_migrate"',
        'migrate completion fish > ~/.config/fish/completions/migrate.fish',
      ]),
    )
    .action((shell) => {
      process.stdout.write(completionScript(shell, commandSpecs(program)));
    });
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, specs: CommandSpec[]): string {
  return shell === 'fish' ? fishScript(specs) : shell === 'zsh' ? zshScript(specs) : bashScript(specs);
}

const words = (xs: string[]) => xs.join(' ');
/** A single-quoted word for bash and zsh. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** A single-quoted word for fish (which reads `\\` and `\'` inside single quotes). */
const quoteFish = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/**
 * `_migrate_words <path> commands|options|values|args`: the words of each kind for a command path, as a `case`
 * (bash and zsh read it alike). `values` are the options that take a value, the program's own included (commander
 * reads them after a subcommand too), so the word after one is never taken for a command.
 */
function shellWordsFunction(specs: CommandSpec[]): string {
  const root = specs.find((s) => s.path === '')!;
  const valueFlags = (s: CommandSpec) => s.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
  const rows: string[] = [];
  for (const s of specs) {
    const kinds: [string, string[]][] = [
      ['commands', s.subcommands.map((c) => c.name)],
      ['options', s.options.flatMap((o) => o.flags)],
      ['values', [...new Set([...valueFlags(s), ...(s.path ? valueFlags(root) : [])])]],
      ['args', s.argChoices],
    ];
    for (const [kind, ws] of kinds)
      if (ws.length) rows.push(`    ${quote(`${s.path}|${kind}`)}) echo ${quote(words(ws))} ;;`);
  }
  const choices: string[] = [];
  for (const s of specs)
    for (const o of s.options)
      if (o.choices.length)
        choices.push(
          `    ${o.flags.map((f) => quote(`${s.path}|${f}`)).join('|')}) echo ${quote(words(o.choices))} ;;`,
        );
  return [
    '_migrate_words() {',
    '  case "$1|$2" in',
    ...rows,
    '  esac',
    '}',
    '',
    '# _migrate_choices <path> <option>: the values an option accepts, when it lists them.',
    '_migrate_choices() {',
    '  case "$1|$2" in',
    ...choices,
    '  esac',
    '}',
  ].join('\n');
}

/** The loop both bash and zsh run over the words before the cursor: the command path, and the word before. */
const PATH_LOOP = `  local cmdpath="" prev="" w skip=""
  for w in "\${before[@]}"; do
    if [[ -n $skip ]]; then
      skip=""
    else
      case $w in
        -*=*) ;;
        -*) [[ " $(_migrate_words "$cmdpath" values) " == *" $w "* ]] && skip=1 ;;
        *) [[ " $(_migrate_words "$cmdpath" commands) " == *" $w "* ]] && cmdpath=\${cmdpath:+$cmdpath }$w ;;
      esac
    fi
    prev=$w
  done`;

function bashScript(specs: CommandSpec[]): string {
  return `# bash completion for migrate, generated by \`migrate completion bash\` from its commands.
# Load it with: source <(migrate completion bash)
# or save it as ~/.local/share/bash-completion/completions/migrate

# _migrate_words <path> <kind>: subcommands, options, options that take a value, or argument choices of a command.
${shellWordsFunction(specs)}

_migrate() {
  # The line up to the cursor, split at blanks only (COMP_WORDS also splits at ":" and "=": gate:go, --output=json).
  local line
  if [[ -n \${COMP_LINE+x} ]]; then line=\${COMP_LINE:0:COMP_POINT}; else line="\${COMP_WORDS[*]:0:COMP_CWORD+1}"; fi
  local -a before
  read -ra before <<<"$line"
  local cur=""
  if [[ $line != *[[:blank:]] && \${#before[@]} -gt 0 ]]; then
    cur=\${before[-1]}
    unset 'before[-1]'
  fi
  before=("\${before[@]:1}")
${PATH_LOOP}
  local candidates="" value=$cur
  if [[ $cur == --*=* ]]; then
    value=\${cur#*=}
    candidates=$(_migrate_choices "$cmdpath" "\${cur%%=*}")
  elif [[ -n $skip ]]; then
    candidates=$(_migrate_choices "$cmdpath" "$prev")
    # A value without a list of choices (a file, a name): leave it to the default completion.
    [[ -z $candidates ]] && { COMPREPLY=(); return 0; }
  elif [[ $cur == -* ]]; then
    candidates=$(_migrate_words "$cmdpath" options)
  else
    candidates="$(_migrate_words "$cmdpath" commands) $(_migrate_words "$cmdpath" args)"
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$value"))
  # Readline replaces only the part of the word after its last ":" (gate:go): hand it that part.
  if [[ $value == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local prefix=\${value%"\${value##*:}"}
    COMPREPLY=("\${COMPREPLY[@]#"$prefix"}")
  fi
  return 0
}
complete -o default -F _migrate migrate
`;
}

function zshScript(specs: CommandSpec[]): string {
  return `#compdef migrate
# zsh completion for migrate, generated by \`migrate completion zsh\` from its commands.
# Load it with: source <(migrate completion zsh)   (after compinit)
# or save it as _migrate in a folder of $fpath

# _migrate_words <path> <kind>: subcommands, options, options that take a value, or argument choices of a command.
${shellWordsFunction(specs)}

_migrate() {
  local -a before
  before=("\${(@)words[2,CURRENT-1]}")
  local cur=\${words[CURRENT]}
${PATH_LOOP}
  local -a candidates
  if [[ $cur == --*=* ]]; then
    compset -P '*='
    candidates=(\${=$(_migrate_choices "$cmdpath" "\${cur%%=*}")})
  elif [[ -n $skip ]]; then
    candidates=(\${=$(_migrate_choices "$cmdpath" "$prev")})
    (( \${#candidates} )) || { _files; return; }
  elif [[ $cur == -* ]]; then
    candidates=(\${=$(_migrate_words "$cmdpath" options)})
  else
    candidates=(\${=$(_migrate_words "$cmdpath" commands)} \${=$(_migrate_words "$cmdpath" args)})
    (( \${#candidates} )) || { _files; return; }
  fi
  compadd -- "\${candidates[@]}"
}

if [[ \${funcstack[1]} == _migrate ]]; then
  _migrate "$@"
else
  compdef _migrate migrate
fi
`;
}

function fishScript(specs: CommandSpec[]): string {
  const root = specs.find((s) => s.path === '')!;
  const valueFlags = (s: CommandSpec) => s.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
  const cases = specs.flatMap((s) => {
    const rows: string[] = [];
    const commands = s.subcommands.map((c) => c.name);
    const values = [...new Set([...valueFlags(s), ...(s.path ? valueFlags(root) : [])])];
    if (commands.length)
      rows.push(
        `        case ${quoteFish(`${s.path}|commands`)}`,
        `            string join \\n -- ${commands.join(' ')}`,
      );
    if (values.length)
      rows.push(`        case ${quoteFish(`${s.path}|values`)}`, `            string join \\n -- ${values.join(' ')}`);
    return rows;
  });
  const lines: string[] = [];
  for (const s of specs) {
    const at = `-n '__migrate_at "${s.path}"'`;
    if (!s.path || s.subcommands.length) lines.push(`complete -c migrate ${at} -f`);
    for (const c of s.subcommands)
      lines.push(`complete -c migrate ${at} -a ${quoteFish(c.name)} -d ${quoteFish(c.description)}`);
    if (s.argChoices.length) lines.push(`complete -c migrate ${at} -f -a ${quoteFish(words(s.argChoices))}`);
    for (const o of s.options) {
      const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      const value = o.choices.length ? ` -x -a ${quoteFish(words(o.choices))}` : o.takesValue ? ' -r' : '';
      lines.push(`complete -c migrate ${at} ${flags}${value} -d ${quoteFish(o.description)}`);
    }
  }
  return `# fish completion for migrate, generated by \`migrate completion fish\` from its commands.
# Load it with: migrate completion fish | source
# or save it as ~/.config/fish/completions/migrate.fish

function __migrate_words --argument-names path kind
    switch "$path|$kind"
${cases.join('\n')}
    end
end

# The command path typed so far (options and their values skipped), e.g. "audit verify".
function __migrate_path
    set -l path ''
    set -l skip 0
    set -l typed (commandline -opc)
    set -e typed[1]
    for w in $typed
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*=*' $w
        else if string match -q -- '-*' $w
            contains -- $w (__migrate_words "$path" values); and set skip 1
        else if contains -- $w (__migrate_words "$path" commands)
            set path (string trim -- "$path $w")
        end
    end
    echo $path
end

function __migrate_at --argument-names wanted
    set -l path (__migrate_path)
    test "$path" = "$wanted"
end

${lines.join('\n')}
`;
}
