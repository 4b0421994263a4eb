import type { Command } from '@commander-js/extra-typings';
import { isFinalPhase } from '../../../workflows/constants';
import { agentSteps, renderAgentSteps } from '../../agents';
import { renderRetries, retryingActivities } from '../../retries';
import { EXAMPLE_ID, examples } from '../options';
import { print, renderStatus } from '../render';
import { readStatus, withClient } from '../temporal';

/** `migrate status <id>`: the status once, or redrawn every second with `--watch` until the migration ends. */
export function addStatusCommand(program: Command): void {
  program
    .command('status')
    .description('phase, gates, readings and undo records of a migration')
    .argument('<id>', 'migration ID')
    .option('--json', 'machine-readable output')
    .option('--watch', 'redraw every second until the migration ends')
    .addHelpText(
      'after',
      examples([
        `migrate status ${EXAMPLE_ID}`,
        `migrate status ${EXAMPLE_ID} --watch`,
        `migrate status ${EXAMPLE_ID} --json | jq .phase`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        for (;;) {
          const s = await readStatus(client, id);
          // Server-side retries (a database or engine down) are not in the workflow's state: read them alongside.
          const retrying = isFinalPhase(s.phase)
            ? []
            : await retryingActivities(client.workflow.getHandle(id)).catch(() => []);
          // Which agent did each host-bound step (read from the history: the workflow's state does not know workers).
          const agents = await agentSteps(client, id).catch(() => []);
          if (o.watch && !o.json) process.stdout.write('\x1b[2J\x1b[H');
          print(!!o.json, { ...s, retrying, agents }, () =>
            [renderStatus(s), ...renderRetries(retrying), ...renderAgentSteps(agents)].join('\n'),
          );
          if (!o.watch || isFinalPhase(s.phase)) return;
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });
}
