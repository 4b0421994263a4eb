import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from '@commander-js/extra-typings';
import { loadConfig } from '../../../lib/config';
import { ledgerOf, type Plan } from '../../../model/plan';
import { planDigest } from '../../../model/signatures';
import { loadPlan } from '../../plan';
import { rollbackFromLedger, type LedgerLocation, type LedgerRollback } from '../../ledger-rollback';
import { REQUESTS } from '../../../model/requests';
import { WorkflowType } from '../../../model/constants';
import { rollbackWorkflowId } from '../../../model/status';
import type { rollbackWorkflow } from '../../../workflows/rollback';
import { CliError, ExitCode } from '../errors';
import { formatNumber } from '../../../model/format';
import { asOption, EXAMPLE_ID, examples, outputOptions } from '../options';
import { print, renderAnswer } from '../render';
import { planOf, readStatus, withClient } from '../temporal';
import { operatorRequest } from './requests';
import { signedStart } from './start';
import { defaultStartKey } from '../../../lib/start-proof';

/** `migrate rollback <id>`: a signal to a running migration, else a hand-started rollback workflow. */
export function addRollbackCommand(program: Command): void {
  outputOptions(
    program
      .command('rollback')
      .description(
        `${REQUESTS.rollback.description}; for a migration that no longer runs, start the rollback workflow by hand`,
      )
      .argument('<id>', 'migration ID')
      .requiredOption('--reason <text>', 'why')
      .option(
        '--key <file>',
        "sign with this OpenSSH Ed25519 key (default MO_SIGNING_KEY, else ~/.ssh/id_ed25519): a running migration records whether it verified; a rollback started by hand must be signed by a starter in the worker's trust file (migrate-rollback)",
      )
      .option(
        '--plan <file>',
        "a migration no longer in Temporal: its plan file, to find its ledger (the plan run is the ledger's)",
      )
      .option('--ledger-env <name>', 'a migration no longer in Temporal: the variable with the ledger database URL')
      .option('--ledger-table <name>', 'with --ledger-env: the ledger table', 'migration_ledger')
      .addOption(asOption()),
  )
    .addHelpText(
      'after',
      examples([
        `migrate rollback ${EXAMPLE_ID} --reason "error rate up after cutover" --as olga`,
        'migrate rollback <id of a terminated migration> --reason "worker pool lost" --as olga',
        'migrate rollback <id past retention> --plan plans/billing.yaml --reason "found late" --as olga',
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(id);
        const desc = await handle.describe().catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw err;
        });
        if (desc?.status.name === 'RUNNING') {
          const answer = await operatorRequest(id, 'rollback', o);
          print(
            o.output,
            answer,
            () =>
              `${renderAnswer('rollback', answer)}\nrollback requested; follow it with: migrate status ${id} --watch`,
          );
          return;
        }
        // Stuck or terminated: its recorded undo list (queried from its history) drives a hand-started rollback; with
        // no history left, the undo records of its ledger do.
        const recorded = desc ? await fromHistory(client, id) : await fromLedger(id, o);
        const start = async (workflowId: string) => {
          const proof = await signedStart('rollback', workflowId, id, recorded.plan, o.as, o.key ?? defaultStartKey());
          return client.workflow.start<typeof rollbackWorkflow>(WorkflowType.rollbackWorkflow, {
            taskQueue: loadConfig().taskQueue,
            workflowId,
            args: [{ migrationId: id, ...recorded, reason: o.reason, requestedBy: o.as, proof }],
          });
        };
        const started = await start(rollbackWorkflowId(id)).catch((err: unknown) => squatted(client, id, err, start));
        const r = await started.result();
        print(
          o.output,
          { migrationId: id, workflowId: started.workflowId, runId: started.firstExecutionRunId, result: r },
          () =>
            `rolled back ${r.verified ? 'and verified' : 'but NOT verified'} in ${formatNumber(r.durationMs / 1000, 1)} s; report: ${r.reportFile}`,
        );
        if (!r.verified)
          throw new CliError(`rollback verification failed: ${r.failedChecks.join('; ')}`, ExitCode.error);
      }, o.as);
    });
}

/**
 * The rollback's ID is held by a running workflow. Our own rollback of this migration (its type, on our queue) is
 * followed instead of started twice; anything else there is a squatter, which cannot block the rollback: it starts
 * under the ID with a random suffix (the rollback workflow admits that form), and says so.
 */
async function squatted<T>(
  client: Client,
  id: string,
  err: unknown,
  start: (workflowId: string) => Promise<T>,
): Promise<T> {
  if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  const held = await client.workflow.getHandle(rollbackWorkflowId(id)).describe();
  if (held.type === WorkflowType.rollbackWorkflow && held.taskQueue === loadConfig().taskQueue)
    throw new CliError(
      `a rollback of ${id} already runs (${held.workflowId}); follow it with: migrate status ${id} --watch`,
      ExitCode.rejected,
    );
  const fallback = `${rollbackWorkflowId(id)}-${randomUUID()}`;
  process.stderr.write(
    `warning: ${rollbackWorkflowId(id)} is held by a ${held.type} on task queue ${held.taskQueue}, not our rollback: the rollback runs as ${fallback}\n`,
  );
  return start(fallback);
}

/** The rollback input of a migration Temporal still has: its status (queried from its history) and its plan. */
async function fromHistory(client: Client, id: string): Promise<LedgerRollback> {
  const s = await readStatus(client, id);
  return { plan: await planOf(client, id), compensations: s.compensations, fromPhase: s.phase };
}

/**
 * The rollback input of a migration Temporal no longer has, from its ledger (found through `--plan`, whose plan must
 * be the one recorded, or `--ledger-env`/`--ledger-table`); what it will undo is said before it starts.
 */
async function fromLedger(
  id: string,
  o: { plan?: string; ledgerEnv?: string; ledgerTable: string },
): Promise<LedgerRollback> {
  const plan = o.plan === undefined ? undefined : loadPlan(o.plan);
  const recorded = await rollbackFromLedger(id, ledgerLocation(id, o, plan), plan && planDigest(plan));
  const undo = recorded.compensations.map((c) => c.kind).join(', ') || 'nothing';
  process.stderr.write(`no workflow ${id} in Temporal: rolling back from its ledger (undo: ${undo})\n`);
  return recorded;
}

/** Where the ledger of a migration Temporal no longer has is: from `--plan`, or `--ledger-env`/`--ledger-table`. */
function ledgerLocation(
  id: string,
  o: { ledgerEnv?: string; ledgerTable: string },
  plan: Plan | undefined,
): LedgerLocation {
  if (plan) return ledgerOf(plan);
  if (o.ledgerEnv) return { databaseUrlEnv: o.ledgerEnv, table: o.ledgerTable };
  throw new CliError(
    `no migration ${id} in Temporal; to roll it back from its ledger, give its plan file (--plan <file>) or the ledger's database variable (--ledger-env <name>)`,
    ExitCode.notFound,
  );
}
