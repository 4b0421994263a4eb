import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from '@commander-js/extra-typings';
import { readLedger } from '../../../activities/ledger';
import { ledgerOf } from '../../../workflows/plan';
import { CliError, ExitCode } from '../errors';
import { EXAMPLE_ID, examples } from '../options';
import { print, renderHistory } from '../render';
import { planOf, withClient } from '../temporal';

/** `migrate history <id>`: the migration's measurement ledger, read from the database its plan names. */
export function addHistoryCommand(program: Command): void {
  program
    .command('history')
    .description('the measurement ledger of a migration: every evaluation, reading, approval, rejection and undo')
    .argument('<id>', 'migration ID')
    .option('--json', 'machine-readable output (one object per row, readings included)')
    .addHelpText(
      'after',
      examples([
        `migrate history ${EXAMPLE_ID}`,
        `migrate history ${EXAMPLE_ID} --json | jq '.[] | select(.kind == "gate-evaluation")'`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const plan = await planOf(client, id).catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) throw new CliError(`no migration ${id}`, ExitCode.notFound);
          throw err;
        });
        const ledger = ledgerOf(plan);
        if (!process.env[ledger.databaseUrlEnv])
          throw new CliError(
            `set ${ledger.databaseUrlEnv} to the ledger database's URL (the plan names it; the CLI never stores it)`,
            ExitCode.error,
          );
        const rows = await readLedger({ migrationId: id, ...ledger });
        if (!rows.length) throw new CliError(`the ledger has no rows for ${id}`, ExitCode.notFound);
        print(!!o.json, rows, () => renderHistory(id, ledger.table, rows));
      });
    });
}
