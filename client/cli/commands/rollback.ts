import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from '@commander-js/extra-typings';
import { loadConfig } from '../../../lib/config';
import { rollbackUpdate, rollbackWorkflowId } from '../../../workflows/definitions';
import type { rollbackWorkflow } from '../../../workflows/rollback';
import { CliError, ExitCode } from '../errors';
import { asOption, EXAMPLE_ID, examples } from '../options';
import { planOf, readStatus, withClient } from '../temporal';
import { operatorRequest } from './requests';

/** `migrate rollback <id>`: a signal to a running migration, else a hand-started rollback workflow. */
export function addRollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description('roll a migration back; for a migration that no longer runs, start the rollback workflow by hand')
    .argument('<id>', 'migration ID')
    .requiredOption('--reason <text>', 'why')
    .option('--key <file>', 'sign with this OpenSSH Ed25519 key (never required: a rollback is never blocked)')
    .addOption(asOption())
    .addHelpText(
      'after',
      examples([
        `migrate rollback ${EXAMPLE_ID} --reason "error rate up after cutover" --as olga`,
        'migrate rollback <id of a terminated migration> --reason "worker pool lost" --as olga',
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(id);
        const desc = await handle.describe().catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) throw new CliError(`no migration ${id}`, ExitCode.notFound);
          throw err;
        });
        if (desc.status.name === 'RUNNING') {
          await operatorRequest(id, 'rollback', rollbackUpdate, o);
          process.stdout.write(`rollback requested; follow it with: migrate status ${id} --watch\n`);
          return;
        }
        // Stuck or terminated: its recorded undo list (queried from its history) drives a hand-started rollback.
        const s = await readStatus(client, id);
        const started = await client.workflow.start<typeof rollbackWorkflow>('rollbackWorkflow', {
          taskQueue: loadConfig().taskQueue,
          workflowId: rollbackWorkflowId(id),
          args: [
            {
              migrationId: id,
              plan: await planOf(client, id),
              compensations: s.compensations,
              reason: o.reason,
              requestedBy: o.as,
              fromPhase: s.phase,
            },
          ],
        });
        const r = await started.result();
        process.stdout.write(
          `rolled back ${r.verified ? 'and verified' : 'but NOT verified'} in ${(r.durationMs / 1000).toFixed(1)} s; report: ${r.reportFile}\n`,
        );
        if (!r.verified)
          throw new CliError(`rollback verification failed: ${r.failedChecks.join('; ')}`, ExitCode.error);
      }, o.as);
    });
}
