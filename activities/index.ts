import { Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import { rollbackWorkflowId } from '../model/status';
import { MAX_STOP_GRACE_MS, type JobSpec, type UnifiedContainerSpec } from '../model/plan';
import { createAdmission, type AdmissionConfig } from './admission';
import { archiveLegacyScripts, restoreArchivedScripts } from './archive';
import { backupDatabase } from './backup';
import { evaluateMetrics, hostChecks, runChecks, type HostChecksInput, type RunChecksInput } from './checks';
import { compareOutputs } from './compare';
import { listContainers, startContainers, stopContainers, type ContainerSpec } from './containers';
import { ErrorType, permanent } from './errors';
import { WorkflowType } from '../model/constants';
import { heartbeat, heartbeatWhile } from './heartbeat';
import { appendLedger, readLedger } from './ledger';
import type { Signer } from '../lib/signing';
import { notify } from './notify';
import { runCommand } from './process';
import { writeCompletionReport, writeRollbackReport } from './reports';
import { createSchedulerActivities } from './scheduler';
import { checkTarget } from './target';
import { getTrafficPercent, setTrafficPercent } from './traffic';

/** What the activities need from the worker: built once, passed in (tests pass the same real dependencies). */
export interface ActivityDeps {
  docker: Docker;
  /** Temporal client, for the Temporal Schedules scheduler adapter. */
  client: Client;
  /** Task queue the job schedules start their workflows on. */
  taskQueue?: string;
  /** How this worker admits runs (its trust file); without one, no run is admitted. */
  admission?: AdmissionConfig;
  /** Seals each ledger append with the worker's ledger key (`MO_LEDGER_SEAL_KEY`); absent: the ledger is unsealed. */
  ledgerSealer?: Signer;
}

/** Container specs with `envFrom` resolved from the worker's environment (values never pass through history). */
export function resolveContainers(containers: UnifiedContainerSpec[]): ContainerSpec[] {
  return containers.map((c) => {
    const env: Record<string, string> = { ...(c.env ?? {}) };
    for (const [name, from] of Object.entries(c.envFrom ?? {})) {
      const v = process.env[from];
      if (v === undefined)
        throw permanent(
          ErrorType.MissingSecret,
          `environment variable ${from} (for ${c.service}.${name}) is not set on the worker`,
        );
      env[name] = v;
    }
    return { service: c.service, image: c.image, command: c.command, env, ...(c.mounts ? { mounts: c.mounts } : {}) };
  });
}

/** A stop grace from an activity's input: whole seconds from 0 to 90, or Docker's default when absent. */
function stopGrace(seconds: number | undefined): number | undefined {
  if (seconds === undefined) return undefined;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_STOP_GRACE_MS / 1000)
    throw permanent(
      ErrorType.InvalidInput,
      `graceSeconds must be a whole number of seconds from 0 to 90, got ${seconds}`,
    );
  return seconds;
}

/**
 * The migration that owns the containers an activity deploys or removes: the one named in its input, else the
 * calling workflow's (a migration workflow's ID is its migration's; a rollback's is derived from it), for workflow
 * code that does not pass `migrationId` yet. Any other caller must name it.
 */
export function owningMigration(migrationId: string | undefined): string {
  if (migrationId) return migrationId;
  let info: Context['info'] | undefined;
  try {
    info = Context.current().info;
  } catch {
    info = undefined;
  }
  const id = info?.workflowExecution?.workflowId;
  const suffix = rollbackWorkflowId('');
  if (info?.workflowType === WorkflowType.migrationWorkflow && id) return id;
  if (info?.workflowType === WorkflowType.rollbackWorkflow && id?.endsWith(suffix) && id.length > suffix.length)
    return id.slice(0, -suffix.length);
  throw permanent(
    ErrorType.InvalidInput,
    `containers are owned by a migration: pass migrationId (called from ${info ? `${info.workflowType ?? 'no workflow'} ${id ?? ''}` : 'outside an activity'})`,
  );
}

/** Runs a scheduled job's command once (no shell); a non-zero exit fails the run. */
export async function runJob(job: JobSpec): Promise<{ code: number; output: string }> {
  const [cmd, ...args] = job.command;
  const r = await runCommand(cmd!, args, { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`job ${job.name} exited ${r.code}: ${r.stderr.trim().slice(-500)}`);
  return { code: 0, output: r.stdout.slice(-2000) };
}

/**
 * A quick step that reports no progress of its own, heartbeating while it runs: with a heartbeat timeout in the plan
 * (`retry.quick.heartbeatTimeout`), a worker that dies under it is noticed within that timeout. Only for steps that
 * keep no heartbeat details of their own (a tick would replace them).
 */
function ticking<A extends unknown[], R>(name: string, step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) =>
    heartbeatWhile(
      () => heartbeat(name),
      () => step(...args),
    );
}

/** All activities of the orchestrator, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const scheduler = createSchedulerActivities({ client: deps.client, taskQueue: deps.taskQueue });
  const targetDeps = {
    docker: deps.docker,
    findLegacyJobs: scheduler.findLegacyJobs,
    findUnifiedOwner: scheduler.findUnifiedOwner,
  };
  return {
    ...createAdmission(deps.admission ?? { workflowQueues: [], client: deps.client }),
    backupDatabase,
    startContainers: (project: string, specs: ContainerSpec[], owner: { migrationId?: string } = {}) =>
      startContainers(deps.docker, project, specs, owningMigration(owner.migrationId)),
    /** Starts the plan's containers, owned by `migrationId`; refuses a container with that name someone else owns. */
    deployUnified: (input: { project: string; containers: UnifiedContainerSpec[]; migrationId?: string }) =>
      startContainers(
        deps.docker,
        input.project,
        resolveContainers(input.containers),
        owningMigration(input.migrationId),
      ),
    /** Removes the project's containers that `migrationId` owns; the others come back as `skipped`, untouched. */
    stopContainers: (project: string, owner: { migrationId?: string; graceSeconds?: number } = {}) =>
      stopContainers(
        deps.docker,
        project,
        { owner: owningMigration(owner.migrationId) },
        stopGrace(owner.graceSeconds),
      ),
    listContainers: (project: string) => listContainers(deps.docker, project),
    runChecks: (input: RunChecksInput) =>
      runChecks(input, (migrationId, target) => checkTarget(targetDeps, migrationId, target)),
    /** An agent's share of a check report: its host's target probes and command checks, for `runChecks`. */
    hostChecks: (input: HostChecksInput) =>
      hostChecks(input, (migrationId, target) => checkTarget(targetDeps, migrationId, target)),
    evaluateMetrics,
    compareOutputs,
    setTrafficPercent,
    getTrafficPercent,
    ...scheduler,
    installUnifiedJob: ticking('installUnifiedJob', scheduler.installUnifiedJob),
    disableLegacyJobs: ticking('disableLegacyJobs', scheduler.disableLegacyJobs),
    archiveLegacyScripts: ticking('archiveLegacyScripts', archiveLegacyScripts),
    restoreArchivedScripts,
    notify,
    runJob,
    writeCompletionReport,
    writeRollbackReport,
    appendLedger: (input: Parameters<typeof appendLedger>[0]) => appendLedger(input, deps.ledgerSealer),
    readLedger,
  };
}

/** The activity interface workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;
