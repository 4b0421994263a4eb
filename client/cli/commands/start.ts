import type { Command } from '@commander-js/extra-typings';
import { isGrpcServiceError, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { migrationIdProblem, WorkflowType } from '../../../model/constants';
import { CliError, ExitCode } from '../errors';
import { loadConfig, workflowUiUrl } from '../../../lib/config';
import { codecEndpoint } from '../../../lib/codec';
import type { migrationWorkflow } from '../../../workflows/migration';
import { loadPlan } from '../../plan';
import { checkRetention } from '../../retention';
import { startWarnings } from '../../start-warnings';
import type { Plan } from '../../../model/plan';
import { planDigest } from '../../../model/signatures';
import { planDetails } from '../../../model/card';
import type { StartKind, StartProof } from '../../../model/admission';
import { signStartWithKey } from '../../../lib/start-proof';
import { asOption, examples, outputOptions } from '../options';
import { authenticationLine, print } from '../render';
import { withClient } from '../temporal';

/** `migrate start <plan>`: validates a plan, then starts its migration. */
export function addStartCommand(program: Command): void {
  outputOptions(
    program
      .command('start')
      .description('validate a plan and start its migration')
      .argument('<plan>', 'YAML plan file')
      .option('--id <id>', 'workflow ID (default: <plan name>-<timestamp>)')
      .addOption(asOption())
      .option(
        '--key <file>',
        "sign the start with this OpenSSH Ed25519 key (default MO_SIGNING_KEY, else ~/.ssh/id_ed25519); the worker's trust file must list it for --as",
      )
      .option(
        '--allow-short-retention',
        "start even if the namespace's retention is shorter than the plan's runbook plus a margin (a warning instead)",
      ),
  )
    .addHelpText(
      'after',
      examples([
        'migrate start plans/production.example.yaml --as alice',
        'migrate start plans/demo.yaml --id demo-rehearsal-1',
        'migrate start plans/production.example.yaml --allow-short-retention',
        'ID=$(migrate start plans/demo.yaml -o json | jq -r .migrationId)',
      ]),
    )
    .action(async (planFile, o) => {
      // Validated before any connection is made: a bad plan never starts anything.
      const plan = loadPlan(planFile);
      const id = o.id ?? `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
      const bad = migrationIdProblem(id);
      if (bad) throw new CliError(`--id: ${bad}`, ExitCode.error);
      // Not a secret: the stock commands on the UI's card point at it (the token only by its variable's name).
      const codec = codecEndpoint();
      await withClient(async (client) => {
        const config = loadConfig();
        await checkNamespaceRetention(client, plan, o.allowShortRetention === true);
        for (const w of await startWarnings(plan, config.dockerHost)) process.stderr.write(`warning: ${w}\n`);
        // Signed last, just before the start: the worker refuses a start signed more than 15 minutes before it.
        const proof = await signedStart('start', id, id, plan, o.as, o.key);
        const handle = await client.workflow
          .start<typeof migrationWorkflow>(WorkflowType.migrationWorkflow, {
            taskQueue: config.taskQueue,
            workflowId: id,
            args: [{ migrationId: id, plan, startedBy: o.as, proof, ...(codec ? { codecEndpoint: codec } : {}) }],
            staticSummary: `Migration ${plan.name}`,
            // The runbook this plan runs, step by step, beside the current-details card the workflow keeps.
            staticDetails: planDetails(plan),
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
        const started = {
          migrationId: id,
          runId: handle.firstExecutionRunId,
          namespace: client.options.namespace,
          taskQueue: config.taskQueue,
          uiUrl: workflowUiUrl(config, id),
          planDigest: planDigest(plan),
          approvalsAuthenticated: Object.keys(plan.approvals.keys ?? {}).length > 0,
          startedBy: o.as,
        };
        print(o.output, started, () => startedText(started));
      }, o.as);
    });
}

/** What `migrate start` prints as text: the ID, the UI link, the plan's digest, how approvals are checked, what next. */
function startedText(s: {
  migrationId: string;
  uiUrl: string;
  planDigest: string;
  approvalsAuthenticated: boolean;
}): string {
  return [
    `started ${s.migrationId}`,
    `  ${s.uiUrl}`,
    `  plan sha256 ${s.planDigest}`,
    `  approvals ${authenticationLine(s)}`,
    `  next: migrate status ${s.migrationId} --watch`,
  ].join('\n');
}

/** A start proof made with the operator's key (`ssh-keygen -Y sign`); a missing key is a CLI error saying what to do. */
export async function signedStart(
  kind: StartKind,
  workflowId: string,
  migrationId: string,
  plan: Plan,
  signer: string,
  key?: string,
): Promise<StartProof> {
  try {
    return await signStartWithKey({ kind, workflowId, migrationId, planDigest: planDigest(plan), signer }, key);
  } catch (err) {
    throw new CliError(`${(err as Error).message}; nothing was started`, ExitCode.error);
  }
}

/**
 * gRPC statuses `DescribeNamespace` answers with: no such namespace; not allowed (an API key that may start workflows
 * but not describe namespaces).
 */
const GRPC = { NOT_FOUND: 5, PERMISSION_DENIED: 7 } as const;

/**
 * Refuses to start (exit `rejected`) when the namespace deletes closed histories before the runbook and its margin
 * are over; with `allowShort`, or when the retention cannot be read, warns on stderr and lets the start go on.
 */
async function checkNamespaceRetention(client: Client, plan: Plan, allowShort: boolean): Promise<void> {
  const { namespace } = client.options;
  let retentionMs: number | undefined;
  let unknownBecause: string | undefined;
  try {
    const described = await client.workflowService.describeNamespace({ namespace });
    retentionMs = optionalTsToMs(described.config?.workflowExecutionRetentionTtl);
  } catch (err) {
    const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
    if (code === GRPC.NOT_FOUND)
      throw new CliError(
        `no namespace ${namespace} on this server: start with --namespace (or TEMPORAL_NAMESPACE) naming one it has`,
        ExitCode.error,
      );
    if (code !== GRPC.PERMISSION_DENIED) throw err;
    unknownBecause = `not allowed to describe it: ${(err as Error).message}`;
  }
  const verdict = checkRetention({ namespace, plan, retentionMs, allowShort, unknownBecause });
  if (verdict.kind === 'refuse') throw new CliError(verdict.message, ExitCode.rejected);
  if (verdict.kind === 'warn') process.stderr.write(`warning: ${verdict.message}\n`);
}
