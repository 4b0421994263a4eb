import { Command, CommanderError } from '@commander-js/extra-typings';
// Bundled into the compiled CLI (resolveJsonModule): no file is read at run time.
import { version } from '../package.json';
import { CodecKeyError, UnsealedPayloadError } from '../lib/codec';
import { addAuditCommand } from './cli/commands/audit';
import { addCodecServerCommand } from './cli/commands/codec-server';
import { addCompletionCommand } from './cli/commands/completion';
import { addGateCommands } from './cli/commands/gates';
import { addHistoryCommand } from './cli/commands/history';
import { addListCommand } from './cli/commands/list';
import { addRehearseCommand } from './cli/commands/rehearse';
import { addReportCommand } from './cli/commands/report';
import { addRequestCommands } from './cli/commands/requests';
import { addRollbackCommand } from './cli/commands/rollback';
import { addStartCommand } from './cli/commands/start';
import { addStatusCommand } from './cli/commands/status';
import { CliError, ExitCode } from './cli/errors';
import { renderExitCodes } from './cli/render';
import { PlanValidationError } from './plan';

export { CliError, ExitCode } from './cli/errors';
export { progressBar, renderStatus } from './cli/render';

/** The `migrate` command line. */
export function buildCli(): Command {
  const program = new Command('migrate')
    .description('Run and operate production migrations on Temporal')
    .version(version, '-V, --version', 'print the version of migrate')
    // Commander throws instead of exiting: main() tells usage errors (their own exit code) from runtime ones.
    // Set before the commands are added, which copy it.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    // The stock CLI's connection flags; everything else (TLS, mTLS, API key) as it reads it: TEMPORAL_* variables
    // and temporal.toml profiles (lib/config.ts).
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, the profile, the local stack)')
    .option('--namespace <namespace>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, the profile, default)')
    .option('--profile <name>', 'profile of the temporal.toml file (TEMPORAL_CONFIG_FILE) to connect with')
    .hook('preAction', (cmd) => applyConnectionFlags(cmd.opts()));
  // In this order in `migrate --help`: the runbook's story first, then the look-ups.
  addStartCommand(program);
  addGateCommands(program);
  addStatusCommand(program);
  addRequestCommands(program);
  addRollbackCommand(program);
  addListCommand(program);
  addReportCommand(program);
  addHistoryCommand(program);
  addAuditCommand(program);
  addRehearseCommand(program);
  addCodecServerCommand(program);
  addCompletionCommand(program);
  program.addHelpText(
    'after',
    `\nEvery command but completion takes -o text|json|jsonl (--json is the same as -o json).\n\n${renderExitCodes()}\n\nRun "migrate <command> --help" for examples. Operator runbook: docs/runbook.md`,
  );
  return program;
}

/** `--address`, `--namespace` and `--profile` override the variables the connection settings are read from. */
function applyConnectionFlags(o: { address?: string; namespace?: string; profile?: string }): void {
  if (o.address) process.env.TEMPORAL_ADDRESS = o.address;
  if (o.namespace) process.env.TEMPORAL_NAMESPACE = o.namespace;
  if (o.profile) process.env.TEMPORAL_PROFILE = o.profile;
}

/** Runs the CLI; maps known errors to exit codes. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    // Commander has printed its message (or the help, or the version) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    if (err instanceof PlanValidationError) {
      process.stderr.write(`${err.message}\nFix the fields above and run the command again; nothing was started.\n`);
      return ExitCode.invalidPlan;
    }
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    if (err instanceof CodecKeyError || err instanceof UnsealedPayloadError) {
      process.stderr.write(`${err.message}\n`);
      return ExitCode.error;
    }
    process.stderr.write(
      `${err instanceof Error ? err.message : String(err)}\nIs the stack up? \`npm run stack status\`\n`,
    );
    return ExitCode.error;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => process.exit(code));
}
