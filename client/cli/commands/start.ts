import type { Command } from '@commander-js/extra-typings';
import { loadConfig, workflowUiUrl } from '../../../lib/config';
import type { migrationWorkflow } from '../../../workflows/migration';
import { loadPlan } from '../../plan';
import { planDigest } from '../../../workflows/signatures';
import { asOption, examples } from '../options';
import { authenticationLine } from '../render';
import { withClient } from '../temporal';

/** `migrate start <plan>`: validates a plan, then starts its migration. */
export function addStartCommand(program: Command): void {
  program
    .command('start')
    .description('validate a plan and start its migration')
    .argument('<plan>', 'YAML plan file')
    .option('--id <id>', 'workflow ID (default: <plan name>-<timestamp>)')
    .addOption(asOption())
    .addHelpText(
      'after',
      examples([
        'migrate start plans/production.example.yaml --as alice',
        'migrate start plans/demo.yaml --id demo-rehearsal-1',
      ]),
    )
    .action(async (planFile, o) => {
      // Validated before any connection is made: a bad plan never starts anything.
      const plan = loadPlan(planFile);
      await withClient(async (client) => {
        const config = loadConfig();
        const id = o.id ?? `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
        await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
          taskQueue: config.taskQueue,
          workflowId: id,
          args: [{ migrationId: id, plan, startedBy: o.as }],
          staticSummary: `Migration ${plan.name}`,
          staticDetails: plan.description,
        });
        process.stdout.write(
          [
            `started ${id}`,
            `  ${workflowUiUrl(config, id)}`,
            `  plan sha256 ${planDigest(plan)}`,
            `  approvals ${authenticationLine({ approvalsAuthenticated: Object.keys(plan.approvals.keys ?? {}).length > 0 })}`,
            `  next: migrate status ${id} --watch`,
            '',
          ].join('\n'),
        );
      }, o.as);
    });
}
