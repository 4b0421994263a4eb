import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { JobSpec } from '../model/plan';
import { withSummaries } from '../model/summaries';

const options = { startToCloseTimeout: '1 hour', retry: { maximumAttempts: 1 } } as const;
const { runJob } = withSummaries(proxyActivities<Activities>(options));

/**
 * What a job schedule (Temporal Schedules scheduler) starts: one run of the job's command on a worker, the agent's
 * (`runOn`) when the plan names a commands agent.
 */
export async function scheduledJobWorkflow(input: {
  job: JobSpec;
  runOn?: string;
}): Promise<{ code: number; output: string }> {
  if (input.runOn)
    return withSummaries(proxyActivities<Activities>({ ...options, taskQueue: input.runOn })).runJob(input.job);
  return runJob(input.job);
}
