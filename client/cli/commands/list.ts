import type { Command } from '@commander-js/extra-typings';
import { examples } from '../options';
import { print, renderList, type ListRow } from '../render';
import { withClient } from '../temporal';

/** `migrate list`: the migrations Temporal visibility knows, newest first. */
export function addListCommand(program: Command): void {
  program
    .command('list')
    .description('migrations, newest first, with their phase (Temporal visibility)')
    .option('--phase <phase>', 'only migrations in this phase')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples(['migrate list', 'migrate list --phase soak', 'migrate list --json']))
    .action(async (o) => {
      await withClient(async (client) => {
        const query = `WorkflowType = 'migrationWorkflow'${o.phase ? ` AND MigrationPhase = '${o.phase.replace(/'/g, '')}'` : ''}`;
        const rows: ListRow[] = [];
        for await (const wf of client.workflow.list({ query })) {
          const sa = wf.searchAttributes;
          rows.push({
            id: wf.workflowId,
            name: String(sa.MigrationName?.[0] ?? ''),
            phase: String(sa.MigrationPhase?.[0] ?? ''),
            traffic: Number(sa.TrafficPercent?.[0] ?? 0),
            status: wf.status.name,
            started: wf.startTime.toISOString(),
          });
        }
        print(!!o.json, rows, () => renderList(rows));
      });
    });
}
