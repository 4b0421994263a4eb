import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ScheduledJobInput } from '../model/status';
import { scheduledJobProblem } from '../model/admission';
import { agentQueueFor } from '../model/routing';
import { planDigest } from '../model/signatures';
import { withSummaries } from '../model/summaries';
import { admit, notAdmitted } from './admission';

const options = { startToCloseTimeout: '1 hour', retry: { maximumAttempts: 1 } } as const;
const { runJob } = withSummaries(proxyActivities<Activities>(options));

/**
 * What a job schedule (Temporal Schedules scheduler) starts: one run of the job's command on a worker, the agent's
 * (`runOn`) when the plan names a commands agent. Only the unified job of an admitted migration runs: the schedule our
 * scheduler made carries the migration's plan and start proof, the job and queue must be the plan's, and the worker
 * re-verifies the proof against its trust file before the command runs.
 */
export async function scheduledJobWorkflow(input: ScheduledJobInput): Promise<{ code: number; output: string }> {
  if (patched('admission')) await admitJob(input);
  if (input.runOn)
    return withSummaries(proxyActivities<Activities>({ ...options, taskQueue: input.runOn })).runJob(input.job);
  return runJob(input.job);
}

/** Refuses a job run no admitted plan names, before its command runs. */
async function admitJob(input: ScheduledJobInput): Promise<void> {
  const { plan, migrationId, proof } = input;
  if (!plan || !migrationId || !proof)
    notAdmitted(
      'a scheduled job runs only from a schedule `migrate` made for an admitted migration (its input names the migration, its plan and its start proof)',
    );
  const bad = scheduledJobProblem(input.job, input.runOn, plan, agentQueueFor(plan, 'commands'));
  if (bad) notAdmitted(bad);
  await admit({ kind: 'job', workflowId: workflowInfo().workflowId, migrationId, planDigest: planDigest(plan), proof });
}
