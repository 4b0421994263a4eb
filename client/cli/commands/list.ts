import { Option, type Command } from '@commander-js/extra-typings';
import { PHASES, WorkflowType } from '../../../model/constants';
import { examples, outputOptions, positiveIntArg } from '../options';
import { print, renderList, type ListRow } from '../render';
import { withClient } from '../temporal';

/** How many migrations `migrate list` shows unless `--limit` says otherwise. */
const DEFAULT_LIMIT = 50;

/** `migrate list`: the migrations Temporal visibility knows, newest first. */
export function addListCommand(program: Command): void {
  outputOptions(
    program
      .command('list')
      .description('migrations, newest first, with their phase (Temporal visibility)')
      .addOption(new Option('--phase <phase>', 'only migrations in this phase').choices(PHASES))
      .option('--limit <n>', `at most this many (default ${DEFAULT_LIMIT})`, positiveIntArg),
  )
    .addHelpText(
      'after',
      examples([
        'migrate list',
        'migrate list --phase soak',
        'migrate list --limit 5 -o json',
        'migrate list -o jsonl',
      ]),
    )
    .action(async (o) => {
      await withClient(async (client) => {
        // The phase is one of PHASES (commander refused anything else), so it can go into the query as it is.
        const query = `WorkflowType = '${WorkflowType.migrationWorkflow}'${o.phase ? ` AND MigrationPhase = '${o.phase}'` : ''}`;
        const limit = o.limit ?? DEFAULT_LIMIT;
        const rows: ListRow[] = [];
        for await (const wf of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
          const sa = wf.searchAttributes;
          rows.push({
            id: wf.workflowId,
            name: String(sa.MigrationName?.[0] ?? ''),
            phase: String(sa.MigrationPhase?.[0] ?? ''),
            traffic: Number(sa.TrafficPercent?.[0] ?? 0),
            status: wf.status.name,
            started: wf.startTime.toISOString(),
          });
          if (rows.length >= limit) break;
        }
        print(o.output, rows, () => renderList(rows, Date.now()));
      });
    });
}
