import type { Command } from '@commander-js/extra-typings';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { migrationIdProblem } from '../../../workflows/constants';
import { CliError, ExitCode } from '../errors';
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
      const id = o.id ?? `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
      const bad = migrationIdProblem(id);
      if (bad) throw new CliError(`--id: ${bad}`, ExitCode.error);
      await withClient(async (client) => {
        const config = loadConfig();
        await client.workflow
          .start<typeof migrationWorkflow>('migrationWorkflow', {
            taskQueue: config.taskQueue,
            workflowId: id,
            args: [{ migrationId: id, plan, startedBy: o.as }],
            staticSummary: `Migration ${plan.name}`,
            staticDetails: plan.description,
            // An ID is one migration's: a second run under it would take the first run's backups, saves and ledger.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          })
          .catch((err: Error) => {
            if (err instanceof WorkflowExecutionAlreadyStartedError)
              throw new CliError(
                `migration ID ${id} was used before (its workflow is in the namespace's history): start with a new --id; see migrate status ${id}`,
                ExitCode.rejected,
              );
            throw err;
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
