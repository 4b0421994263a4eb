import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from '@commander-js/extra-typings';
import { readLedger } from '../../../activities/ledger';
import { ledgerOf } from '../../../model/plan';
import { CliError, ExitCode } from '../errors';
import { EXAMPLE_ID, examples, outputOptions, positiveIntArg } from '../options';
import { historyCaption, print, renderHistory } from '../render';
import { planOf, withClient } from '../temporal';

/** `migrate history <id>`: the migration's measurement ledger, read from the database its plan names. */
export function addHistoryCommand(program: Command): void {
  outputOptions(
    program
      .command('history')
      .description('the measurement ledger of a migration: every evaluation, reading, approval, rejection and undo')
      .argument('<id>', 'migration ID')
      .option('--limit <n>', 'only the latest n rows (default: all)', positiveIntArg),
  )
    .addHelpText(
      'after',
      examples([
        `migrate history ${EXAMPLE_ID}`,
        `migrate history ${EXAMPLE_ID} --limit 20`,
        `migrate history ${EXAMPLE_ID} -o jsonl | jq -c 'select(.kind == "gate-evaluation") | .data.readings'`,
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
        const shown = o.limit === undefined ? rows : rows.slice(-o.limit);
        // The caption goes to stderr: stdout is the table alone (a header row, then one line per row).
        if (o.output === 'text')
          process.stderr.write(`${historyCaption(id, ledger.table, shown.length, rows.length)}\n`);
        print(o.output, shown, () => renderHistory(shown, Date.now()));
      });
    });
}
