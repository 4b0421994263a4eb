import { Command } from '@commander-js/extra-typings';
import { addAuditCommand } from './cli/commands/audit';
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
import { PlanValidationError } from './plan';

export { CliError, ExitCode } from './cli/errors';
export { progressBar, renderStatus } from './cli/render';

/** The `migrate` command line. */
export function buildCli(): Command {
  const program = new Command('migrate')
    .description('Run and operate production migrations on Temporal')
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
  program.addHelpText('after', `\nRun "migrate <command> --help" for examples. Operator runbook: docs/runbook.md`);
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
    if (err instanceof PlanValidationError) {
      process.stderr.write(`${err.message}\nFix the fields above and run the command again; nothing was started.\n`);
      return ExitCode.invalidPlan;
    }
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
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
